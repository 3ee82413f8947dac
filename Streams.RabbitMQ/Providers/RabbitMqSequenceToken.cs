using Orleans.Streams;

namespace Mep.Streams.RabbitMQ.Providers;

/// <summary>
/// Position of an event: the receiver's running number for the AMQP message, and the event's index in it. Only
/// meaningful inside one pulling agent (the queue is not rewindable); never a delivery tag, which dies with its channel.
/// </summary>
[GenerateSerializer, Immutable, Alias("mep.streams.rabbitmq.token")]
public sealed class RabbitMqSequenceToken : StreamSequenceToken
{
    public RabbitMqSequenceToken(long sequenceNumber, int eventIndex = 0)
    {
        SequenceNumber = sequenceNumber;
        EventIndex = eventIndex;
    }

    [Id(0)]
    public override long SequenceNumber { get; protected set; }

    [Id(1)]
    public override int EventIndex { get; protected set; }

    public RabbitMqSequenceToken ForEvent(int eventIndex) => new(SequenceNumber, eventIndex);

    public override bool Equals(StreamSequenceToken? other) =>
        other is not null && other.SequenceNumber == SequenceNumber && other.EventIndex == EventIndex;

    public override bool Equals(object? obj) => obj is StreamSequenceToken t && Equals(t);

    public override int GetHashCode() => HashCode.Combine(SequenceNumber, EventIndex);

    public override int CompareTo(StreamSequenceToken? other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var bySequence = SequenceNumber.CompareTo(other.SequenceNumber);
        return bySequence != 0 ? bySequence : EventIndex.CompareTo(other.EventIndex);
    }

    public override string ToString() => $"[{SequenceNumber}:{EventIndex}]";
}
