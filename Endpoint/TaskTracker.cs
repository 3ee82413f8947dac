using Mep.Protocol.Messages;

namespace Mep.Endpoint;

/// <summary>
/// What this process knows about each task id, so a duplicate delivery never runs a task twice:
/// the broker redelivers after a nack, after a reconnect, or when the silo publishes the same task again.
/// Delivery tags are collected per task so that every delivery of it is acked (or nacked) together.
/// </summary>
internal sealed class TaskTracker(int rememberCompleted = 4096)
{
    public enum Decision
    {
        /// <summary>First sight: run it.</summary>
        Run,

        /// <summary>Already running here: this delivery is settled together with the running one.</summary>
        Joined,

        /// <summary>Result already published and confirmed: ack this delivery, do not run.</summary>
        AlreadyCompleted,

        /// <summary>Ran here but the result was not published: publish the kept result, do not run again.</summary>
        PublishKept,
    }

    private sealed class Entry
    {
        public readonly List<ulong> Tags = [];
        public TaskResultMessage? KeptResult;
        public bool Active;
    }

    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, Entry> _open = [];
    private readonly HashSet<Guid> _completed = [];
    private readonly Queue<Guid> _completedOrder = new();
    private int _completedCount;

    public int Running
    {
        get
        {
            lock (_gate)
            {
                return _open.Values.Count(e => e.Active);
            }
        }
    }

    /// <summary>Results published and confirmed by this process.</summary>
    public int Completed
    {
        get
        {
            lock (_gate)
            {
                return _completedCount;
            }
        }
    }

    public Decision Begin(Guid taskId, ulong deliveryTag, out TaskResultMessage? keptResult)
    {
        keptResult = null;
        lock (_gate)
        {
            if (_completed.Contains(taskId))
            {
                return Decision.AlreadyCompleted;
            }

            if (_open.TryGetValue(taskId, out var entry))
            {
                entry.Tags.Add(deliveryTag);
                if (entry.Active)
                {
                    return Decision.Joined;
                }

                entry.Active = true;
                keptResult = entry.KeptResult;
                return keptResult is null ? Decision.Run : Decision.PublishKept;
            }

            entry = new Entry { Active = true };
            entry.Tags.Add(deliveryTag);
            _open.Add(taskId, entry);
            return Decision.Run;
        }
    }

    /// <summary>The result is confirmed by the broker: returns every delivery tag to ack.</summary>
    public IReadOnlyList<ulong> Complete(Guid taskId)
    {
        lock (_gate)
        {
            var tags = Take(taskId);
            _open.Remove(taskId);
            _completedCount++;
            if (_completed.Add(taskId))
            {
                _completedOrder.Enqueue(taskId);
                if (_completedOrder.Count > rememberCompleted)
                {
                    _completed.Remove(_completedOrder.Dequeue());
                }
            }

            return tags;
        }
    }

    /// <summary>
    /// The task goes back to the queue: returns the delivery tags to nack. With a result (its publish failed) the
    /// result is kept, so the redelivery publishes it instead of running the task again; without one (shutdown
    /// interrupted the run) the redelivery runs it.
    /// </summary>
    public IReadOnlyList<ulong> Release(Guid taskId, TaskResultMessage? unpublished)
    {
        lock (_gate)
        {
            var tags = Take(taskId);
            if (unpublished is null)
            {
                _open.Remove(taskId);
            }
            else
            {
                var entry = _open[taskId];
                entry.Active = false;
                entry.KeptResult = unpublished;
            }

            return tags;
        }
    }

    private List<ulong> Take(Guid taskId)
    {
        if (!_open.TryGetValue(taskId, out var entry))
        {
            return [];
        }

        var tags = entry.Tags.ToList();
        entry.Tags.Clear();
        return tags;
    }
}
