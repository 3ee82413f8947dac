namespace Mep.Streams.RabbitMQ;

/// <summary>
/// A stream event published by a process that is not an Orleans client (any content type but the Orleans one):
/// delivered to subscribers of <c>IAsyncStream&lt;RabbitMqStreamMessage&gt;</c> as it came, with the broker's
/// properties. <see cref="UserId"/> is the AMQP <c>user-id</c> property, which RabbitMQ only lets through when it
/// equals the publishing connection's user: consumers can trust it to say who sent the message (null if unset).
/// </summary>
[GenerateSerializer, Immutable, Alias("mep.streams.rabbitmq.message")]
public sealed record RabbitMqStreamMessage(
    [property: Id(0)] byte[] Body,
    [property: Id(1)] string? ContentType,
    [property: Id(2)] string? Type,
    [property: Id(3)] string? MessageId,
    [property: Id(4)] string? UserId,
    [property: Id(5)] DateTimeOffset? Timestamp,
    [property: Id(6)] IReadOnlyDictionary<string, string> Headers,
    [property: Id(7)] bool Redelivered);
