namespace Mep.Streams.RabbitMQ;

/// <summary>
/// The message format on the wire (see README.md): one AMQP message per batch of events of one stream, published
/// to the provider's topic exchange with routing key <c>{partition}</c> or <c>{partition}.{suffix}</c>.
/// </summary>
public static class RabbitMqWireFormat
{
    /// <summary>Header: the stream's namespace, as its exact bytes (an AMQP long string; may be empty).</summary>
    public const string StreamNamespaceHeader = "x-stream-namespace";
    /// <summary>Header: the stream's key, as its exact bytes (an AMQP long string).</summary>
    public const string StreamKeyHeader = "x-stream-key";
    /// <summary>Content type of bodies written by the provider itself: events and request context, Orleans-serialized.</summary>
    public const string OrleansContentType = "application/x-orleans-stream-batch";

    /// <summary>Dead-letter headers: why the event could not be delivered, when, and to which subscription.</summary>
    public const string FailureReasonHeader = "x-stream-failure-reason";
    public const string FailedAtHeader = "x-stream-failed-at";
    public const string FailedSubscriptionHeader = "x-stream-failed-subscription";
    public const string SourceQueueHeader = "x-stream-source-queue";
}
