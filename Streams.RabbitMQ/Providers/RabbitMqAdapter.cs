using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using Orleans.Streams;

namespace Mep.Streams.RabbitMQ.Providers;

internal sealed class RabbitMqAdapter(
    string name,
    RabbitMqConnectionManager connections,
    RabbitMqPublisher publisher,
    RabbitMqMessageCodec codec,
    RabbitMqReceiverRegistry receivers,
    ILoggerFactory loggerFactory) : IQueueAdapter
{
    public string Name => name;

    /// <summary>An acked message is gone from the broker: there is nothing to rewind to.</summary>
    public bool IsRewindable => false;

    public StreamProviderDirection Direction => StreamProviderDirection.ReadWrite;

    public async Task QueueMessageBatchAsync<T>(StreamId streamId, IEnumerable<T> events, StreamSequenceToken? token,
        Dictionary<string, object>? requestContext)
    {
        if (token is not null)
        {
            throw new ArgumentException($"RabbitMQ stream provider '{name}' is not rewindable: publish without a sequence token", nameof(token));
        }
        var list = events.Cast<object>().ToList();
        if (list.Count == 0)
        {
            return;
        }
        var (properties, body) = codec.Encode(streamId, list, requestContext);
        var partition = RabbitMqStreamPartitioner.Partition(streamId, connections.Options.PartitionCount);
        await publisher.PublishAsync(connections.Options.Exchange, RabbitMqStreamPartitioner.RoutingKey(partition), properties, body)
            .ConfigureAwait(false);
    }

    public IQueueAdapterReceiver CreateReceiver(QueueId queueId)
    {
        var receiver = new RabbitMqQueueAdapterReceiver(name, queueId, RabbitMqStreamQueueMapper.PartitionOf(queueId),
            connections, publisher, codec, loggerFactory.CreateLogger<RabbitMqQueueAdapterReceiver>());
        receivers.Register(receiver);
        return receiver;
    }
}

/// <summary>The live receiver of each queue, so the failure handler can dead-letter what a receiver holds.</summary>
internal sealed class RabbitMqReceiverRegistry
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<QueueId, RabbitMqQueueAdapterReceiver> _receivers = new();

    public void Register(RabbitMqQueueAdapterReceiver receiver) => _receivers[receiver.QueueId] = receiver;

    public RabbitMqQueueAdapterReceiver? Find(QueueId queueId) => _receivers.GetValueOrDefault(queueId);
}
