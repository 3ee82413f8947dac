using Mep.Contracts.Model;

namespace Mep.Grains.Tasks;

/// <summary>
/// Wakes API requests waiting for tasks to end (long polls) when this silo commits an end of one of them. An end
/// committed by another silo is not signalled here: waiters also look again on their own every so often.
/// </summary>
public sealed class TaskEndSignals
{
    private readonly Lock _lock = new();
    private readonly Dictionary<Guid, List<Watch>> _watches = [];

    /// <summary>Starts watching <paramref name="taskIds"/>: register before reading the store, so that an end committed
    /// between the read and the wait still wakes the waiter.</summary>
    public Watch Start(IReadOnlyCollection<Guid> taskIds)
    {
        var watch = new Watch(this, taskIds);
        lock (_lock)
        {
            foreach (var id in taskIds)
            {
                if (!_watches.TryGetValue(id, out var list))
                {
                    _watches[id] = list = [];
                }

                list.Add(watch);
            }
        }

        return watch;
    }

    /// <summary>These tasks' ends are committed; each with its ended record when the committer had it.</summary>
    public void Ended(IEnumerable<(Guid TaskId, TaskRecord? Record)> ends)
    {
        HashSet<Watch>? woken = null;
        lock (_lock)
        {
            foreach (var (id, record) in ends)
            {
                if (_watches.TryGetValue(id, out var list))
                {
                    foreach (var watch in list)
                    {
                        watch.Add(id, record);
                        (woken ??= []).Add(watch);
                    }
                }
            }
        }

        foreach (var watch in woken ?? [])
        {
            watch.Signal.TrySetResult();
        }
    }

    private void Stop(Watch watch)
    {
        lock (_lock)
        {
            foreach (var id in watch.TaskIds)
            {
                if (_watches.TryGetValue(id, out var list) && list.Remove(watch) && list.Count == 0)
                {
                    _watches.Remove(id);
                }
            }
        }
    }

    public sealed class Watch : IDisposable
    {
        private readonly TaskEndSignals _owner;

        internal Watch(TaskEndSignals owner, IReadOnlyCollection<Guid> taskIds)
        {
            _owner = owner;
            TaskIds = taskIds;
        }

        internal IReadOnlyCollection<Guid> TaskIds { get; }

        // The ends signalled so far (under the owner's lock); a null record: ended, but read it from the store.
        private readonly Dictionary<Guid, TaskRecord?> _ended = [];

        internal void Add(Guid taskId, TaskRecord? record) => _ended.TryAdd(taskId, record);

        /// <summary>
        /// The records of the ends that woke this watch, when every one came with its record; null when the store must
        /// be read instead (an end signalled without its record, or none signalled yet).
        /// </summary>
        public IReadOnlyList<TaskRecord>? SignalledRecords()
        {
            lock (_owner._lock)
            {
                if (_ended.Count == 0 || _ended.Values.Any(r => r is null))
                {
                    return null;
                }

                return _ended.Values.Select(r => r!).ToList();
            }
        }

        internal TaskCompletionSource Signal { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Waits until one of the watched tasks ends here, or <paramref name="timeout"/> passes.</summary>
        /// <returns>True when woken by an end.</returns>
        public async Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            try
            {
                await Signal.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (TimeoutException)
            {
                return false;
            }
        }

        public void Dispose() => _owner.Stop(this);
    }
}
