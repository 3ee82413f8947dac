namespace Mep.Protocol.Messages;

/// <summary>
/// Names of broker objects, derived from the UEP id in one place: the silo creates them, grants them
/// to the UEP's broker user and publishes to them; the UEP consumes and publishes with them.
/// </summary>
public static class BrokerNames
{
    /// <summary>
    /// The exchange of the cluster's event stream provider (Streams.RabbitMQ): UEPs publish their events to it,
    /// and its partition queues <c>mep.events.{n}</c> carry them to the UEP grains.
    /// </summary>
    public const string EventsExchange = "mep.events";

    /// <summary>Stream namespace of a UEP's events; the stream key is the UEP id (and the UEP grain's key).</summary>
    public const string EventStreamNamespace = "mep.uep";

    /// <summary>Stream headers of the provider's wire format (Mep.Streams.RabbitMQ.RabbitMqWireFormat; a test keeps them equal).</summary>
    public const string StreamNamespaceHeader = "x-stream-namespace";
    public const string StreamKeyHeader = "x-stream-key";

    public static string TaskQueue(string uepId) => $"mep.uep.{uepId}.tasks";

    /// <summary>Routing key of a UEP's events: its stream's partition, then its own name (topic permissions pin it).</summary>
    public static string EventsRoutingKey(int partition, string uepId) => $"{partition}.uep.{uepId}";

    public static string UepUser(string uepId) => $"uep-{uepId}";

    /// <summary>Message type property values, so a consumer can route without parsing the body.</summary>
    public const string EventMessageType = "mep.endpoint-event";

    /// <summary>
    /// A task queue message that carries several tasks: its body is a JSON array of <see cref="TaskMessage"/>. A message
    /// without this type is one task. The silo sends bundles only to a UEP that said it takes them (its Started event).
    /// </summary>
    public const string TaskBundleType = "mep.task-bundle";
}
