using Orleans.Runtime;
using Orleans.Streams;

namespace Mep.Streams.RabbitMQ.Providers;

/// <summary>
/// One Orleans queue per partition, with the partition as its number: a stream's queue is the one
/// <see cref="RabbitMqStreamPartitioner"/> picks, the same rule external publishers follow.
/// </summary>
internal sealed class RabbitMqStreamQueueMapper : IStreamQueueMapper
{
    private readonly QueueId[] _queues;

    public RabbitMqStreamQueueMapper(string providerName, int partitionCount)
    {
        _queues = Enumerable.Range(0, partitionCount)
            .Select(p => QueueId.GetQueueId(providerName, (uint)p, (uint)p))
            .ToArray();
    }

    public IEnumerable<QueueId> GetAllQueues() => _queues;

    public QueueId GetQueueForStream(StreamId streamId) =>
        _queues[RabbitMqStreamPartitioner.Partition(streamId, _queues.Length)];

    public static int PartitionOf(QueueId queueId) => (int)queueId.GetNumericId();
}
