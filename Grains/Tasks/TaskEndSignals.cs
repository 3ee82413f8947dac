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

    /// <summary>These tasks' ends are committed.</summary>
    public void Ended(IEnumerable<Guid> taskIds)
    {
        List<Watch>? woken = null;
        lock (_lock)
        {
            foreach (var id in taskIds)
            {
                if (_watches.TryGetValue(id, out var list))
                {
                    (woken ??= []).AddRange(list);
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
