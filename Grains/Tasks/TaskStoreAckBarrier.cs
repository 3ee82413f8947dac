using Mep.Streams.RabbitMQ;

namespace Mep.Grains.Tasks;

/// <summary>
/// Holds the event stream's broker acks until the task store has committed what the events caused: a user endpoint
/// records a task's end without waiting for the commit (its stream delivers one event at a time, and waiting would
/// make one commit per result the limit of its throughput), and this keeps the result event in the broker until then.
/// </summary>
public sealed class TaskStoreAckBarrier(TaskStore store) : IRabbitMqAckBarrier
{
    public Task<long> WaitAsync() => store.BarrierAsync();
}
