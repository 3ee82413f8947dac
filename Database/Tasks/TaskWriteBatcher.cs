namespace Mep.Database.Tasks;

/// <summary>
/// Group commit for the task table: every write asked for while the previous transaction ran goes into the next one,
/// so a busy silo pays one commit (one fsync) for the tasks and results of many requests and user endpoints, and an
/// idle one commits each write at once. A caller's task completes when its rows are durable, or faults with the
/// batch's error, in which case none of the batch's rows were written.
/// <para>
/// A write that finds nothing in flight is committed by its caller, on the caller's thread: with SQLite (whose
/// "async" calls complete synchronously) the caller continues as soon as its commit returns, without a hand-off to a
/// commit loop and back (two thread-pool wake-ups on every warm task's submit and on its end). Writes asked for during
/// that commit are left to a background loop, which commits them together and runs while writes keep coming.
/// </para>
/// </summary>
public sealed class TaskWriteBatcher : IAsyncDisposable
{
    private readonly ITaskTable _table;
    private readonly int _maxRowsPerCommit;
    private readonly Lock _gate = new();
    private readonly Queue<Request> _waiting = new();
    // True while a caller or the background loop commits (or is about to): a new write then only queues.
    private bool _committing;
    private bool _closed;
    private TaskCompletionSource? _drained;

    /// <param name="maxRowsPerCommit">A batch closes once it holds this many rows (a request is never split).</param>
    public TaskWriteBatcher(ITaskTable table, int maxRowsPerCommit = 4096)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRowsPerCommit, 1);
        _table = table;
        _maxRowsPerCommit = maxRowsPerCommit;
    }

    /// <summary>Raised after each commit with its number of rows (the silo's metrics: how well writes are grouped).</summary>
    public event Action<int>? Committed;

    public ITaskTable Table => _table;

    public Task AddAsync(IReadOnlyList<NewTaskRow> rows) =>
        rows.Count == 0 ? Task.CompletedTask : Enqueue(new Request(rows, [], []));

    public Task SetProgressAsync(IReadOnlyList<TaskProgressRow> rows) =>
        rows.Count == 0 ? Task.CompletedTask : Enqueue(new Request([], rows, []));

    /// <returns>For each row, in order: true when it recorded the task's end (false: an end was recorded before).</returns>
    public async Task<bool[]> CompleteAsync(IReadOnlyList<TaskCompletionRow> rows)
    {
        if (rows.Count == 0)
        {
            return [];
        }

        var request = new Request([], [], rows);
        await Enqueue(request).ConfigureAwait(false);
        return request.Recorded;
    }

    /// <summary>Refuses new writes and returns once every write already asked for is committed (or failed).</summary>
    public async ValueTask DisposeAsync()
    {
        Task drained;
        lock (_gate)
        {
            _closed = true;
            if (!_committing)
            {
                return;
            }

            _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            drained = _drained.Task;
        }

        await drained.ConfigureAwait(false);
    }

    private Task Enqueue(Request request)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            _waiting.Enqueue(request);
            if (_committing)
            {
                return request.Done.Task;
            }

            _committing = true;
        }

        return LeadAsync(request);
    }

    /// <summary>The caller that found nothing in flight commits what is waiting (its own write first), then hands what
    /// arrived meanwhile to the background loop and goes on.</summary>
    private async Task LeadAsync(Request own)
    {
        await CommitNextAsync().ConfigureAwait(false);
        if (!TryGoIdle())
        {
            _ = Task.Run(DrainAsync);
        }

        // Completed by the commit above: no wait, and its error (if any) is rethrown here.
        await own.Done.Task.ConfigureAwait(false);
    }

    private async Task DrainAsync()
    {
        do
        {
            await CommitNextAsync().ConfigureAwait(false);
        }
        while (!TryGoIdle());
    }

    /// <summary>Makes the writer idle and returns true when nothing waits; false when the caller must commit again.</summary>
    private bool TryGoIdle()
    {
        TaskCompletionSource? drained;
        lock (_gate)
        {
            if (_waiting.Count > 0)
            {
                return false;
            }

            _committing = false;
            drained = _drained;
        }

        drained?.TrySetResult();
        return true;
    }

    private async Task CommitNextAsync()
    {
        var batch = new List<Request>();
        var rows = 0;
        lock (_gate)
        {
            while (_waiting.TryPeek(out var next) && (batch.Count == 0 || rows + next.Rows <= _maxRowsPerCommit))
            {
                batch.Add(_waiting.Dequeue());
                rows += next.Rows;
            }
        }

        if (batch.Count > 0)
        {
            await CommitAsync(batch, rows).ConfigureAwait(false);
        }
    }

    private async Task CommitAsync(List<Request> batch, int rows)
    {
        var added = new List<NewTaskRow>();
        var addedIds = new HashSet<Guid>();
        // The last progress of a task wins: requests are in the order they were made.
        var progress = new Dictionary<Guid, TaskProgressRow>();
        var completed = new List<TaskCompletionRow>();
        var completedAt = new Dictionary<Guid, int>();
        foreach (var request in batch)
        {
            added.AddRange(request.Added.Where(r => addedIds.Add(r.TaskId)));
            foreach (var row in request.Progress)
            {
                progress[row.TaskId] = row;
            }

            foreach (var row in request.Completed)
            {
                if (!completedAt.ContainsKey(row.TaskId))
                {
                    completedAt[row.TaskId] = completed.Count;
                    completed.Add(row);
                }
            }
        }

        bool[] recorded;
        try
        {
            recorded = await _table.WriteAsync(added, [.. progress.Values], completed, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            foreach (var request in batch)
            {
                request.Done.TrySetException(e);
            }

            return;
        }

        // A second end of one task in one batch lost to the first, as it would have in the next batch.
        var claimed = new HashSet<Guid>();
        foreach (var request in batch)
        {
            for (var i = 0; i < request.Completed.Count; i++)
            {
                var id = request.Completed[i].TaskId;
                request.Recorded[i] = recorded[completedAt[id]] && claimed.Add(id);
            }

            request.Done.TrySetResult();
        }

        Committed?.Invoke(rows);
    }

    private sealed class Request(IReadOnlyList<NewTaskRow> added, IReadOnlyList<TaskProgressRow> progress, IReadOnlyList<TaskCompletionRow> completed)
    {
        public IReadOnlyList<NewTaskRow> Added { get; } = added;
        public IReadOnlyList<TaskProgressRow> Progress { get; } = progress;
        public IReadOnlyList<TaskCompletionRow> Completed { get; } = completed;
        public bool[] Recorded { get; } = new bool[completed.Count];
        public int Rows => Added.Count + Progress.Count + Completed.Count;

        // Continuations run elsewhere: the commit loop must not run a grain's code (or wait for it) inline.
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
