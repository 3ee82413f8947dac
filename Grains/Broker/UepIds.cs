using System.Text.RegularExpressions;

namespace Mep.Grains.Broker;

/// <summary>
/// The UEP id goes into queue, user and routing-key names and into permission regexes, so only ids that are
/// safe in all of them are accepted: no dots (the routing key <c>{partition}.uep.{id}</c> must stay three topic
/// words, one per part), no regex or URL syntax.
/// </summary>
internal static partial class UepIds
{
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")]
    private static partial Regex Valid();

    public static string Check(string uepId) =>
        uepId is not null && Valid().IsMatch(uepId)
            ? uepId
            : throw new ArgumentException($"invalid UEP id '{uepId}': expected 1-100 of [A-Za-z0-9_-]", nameof(uepId));
}
