namespace Mep.Protocol.Messages;

/// <summary>
/// Names of broker objects, derived from the UEP id in one place: the silo creates them, grants them
/// to the UEP's broker user and publishes to them; the UEP consumes and publishes with them.
/// </summary>
public static class BrokerNames
{
    public const string ResultsExchange = "mep.results";
    public const string ResultsQueue = "mep.results";

    public static string TaskQueue(string uepId) => $"mep.uep.{uepId}.tasks";

    public static string ResultsRoutingKey(string uepId) => $"uep.{uepId}";

    public static string UepUser(string uepId) => $"uep-{uepId}";

    /// <summary>Message type property values, so a consumer can route without parsing the body.</summary>
    public const string EventMessageType = "mep.endpoint-event";
}
