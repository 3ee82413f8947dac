using Orleans.Runtime;
using Orleans.Streams;

namespace Mep.Streams.RabbitMQ.Providers;

/// <summary>
/// The events of one AMQP message, on their way from a receiver through the cache to subscribers (possibly on
/// another silo, hence serializable). Holds nothing of the delivery itself: the receiver keeps that.
/// </summary>
[GenerateSerializer, Alias("mep.streams.rabbitmq.batch")]
public sealed class RabbitMqBatchContainer(
    StreamId streamId,
    List<object> events,
    Dictionary<string, object>? requestContext,
    RabbitMqSequenceToken sequenceToken) : IBatchContainer
{
    [Id(0)]
    public StreamId StreamId { get; } = streamId;

    [Id(1)]
    public List<object> Events { get; } = events;

    [Id(2)]
    public Dictionary<string, object>? RequestContext { get; } = requestContext;

    [Id(3)]
    public RabbitMqSequenceToken Token { get; } = sequenceToken;

    public StreamSequenceToken SequenceToken => Token;

    public IEnumerable<Tuple<T, StreamSequenceToken>> GetEvents<T>() =>
        Events.Select((e, i) => (e, i))
            .Where(x => x.e is T)
            .Select(x => Tuple.Create((T)x.e, (StreamSequenceToken)Token.ForEvent(x.i)));

    public bool ImportRequestContext()
    {
        if (RequestContext is not { Count: > 0 })
        {
            return false;
        }
        RequestContextExtensions.Import(RequestContext);
        return true;
    }

    public override string ToString() => $"RabbitMqBatchContainer({StreamId}, {Events.Count} events, {Token})";
}

/// <summary>The body of a message the provider publishes itself, Orleans-serialized.</summary>
[GenerateSerializer, Alias("mep.streams.rabbitmq.payload")]
internal sealed class RabbitMqOrleansPayload
{
    [Id(0)]
    public List<object> Events { get; set; } = [];

    [Id(1)]
    public Dictionary<string, object>? RequestContext { get; set; }
}
