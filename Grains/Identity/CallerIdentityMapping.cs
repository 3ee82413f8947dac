using Mep.Contracts.Model;
using Mep.Identity;
using Microsoft.Extensions.Logging;

namespace Mep.Grains.Identity;

public static class CallerIdentityMapping
{
    public static MappingIdentity ToMappingIdentity(this LinkedIdentity identity) => new(identity.Fields);

    /// <summary>The caller's identity set as mapping rules see it.</summary>
    public static IReadOnlyList<MappingIdentity> ToMappingIdentities(this CallerIdentity caller) =>
        caller.IdentitySet().Select(ToMappingIdentity).ToList();

    /// <summary>What the mapper makes of the caller's identity set on this endpoint.</summary>
    public static Task<MappingResult> MapAsync(this IdentityMapper mapper, CallerIdentity caller, string endpointId, CancellationToken ct = default) =>
        mapper.MapAsync(caller.ToMappingIdentities(), MappingContext.ForEndpoint(endpointId), ct);

    /// <summary>
    /// Identities (those of the caller an endpoint's policies accept) mapped with the file's present mapping, so that
    /// a valid change counts from the next request. A document that failed is logged: the mapping goes on without
    /// it, and the admin needs to know why.
    /// </summary>
    public static async Task<MappingResult> MapAsync(this IdentityMappingFile mapping, IReadOnlyList<LinkedIdentity> identities,
        string endpointId, ILogger logger, CancellationToken ct = default)
    {
        var result = await mapping.Current.MapAsync(identities.Select(ToMappingIdentity).ToList(), MappingContext.ForEndpoint(endpointId), ct);
        foreach (var failure in result.Failures)
        {
            logger.LogWarning(
                "Endpoint {EndpointId}: identity mapping document [{Document}] contributed nothing for {Identities}: {Reason}",
                endpointId, failure.Document, string.Join(", ", identities.Select(i => i.Username)), failure.Reason);
        }

        return result;
    }
}
