using System.Threading.Channels;

namespace Mep.Database.Tasks;

/// <summary>
/// Group commit for the task table: every write asked for while the previous transaction ran goes into the next one,
/// so a busy silo pays one commit (one fsync) for the tasks and results of many requests and user endpoints, and an
/// idle one commits each write at once. A caller's task completes when its rows are durable, or faults with the
/// batch's error, in which case none of the batch's rows were written.
/// </summary>
public sealed class TaskWriteBatcher : IAsyncDisposable
{
    private readonly ITaskTable _table;
    private readonly int _maxRowsPerCommit;
    private readonly Channel<Request> _requests = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;

    /// <param name="maxRowsPerCommit">A batch closes once it holds this many rows (a request is never split).</param>
    public TaskWriteBatcher(ITaskTable table, int maxRowsPerCommit = 4096)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRowsPerCommit, 1);
        _table = table;
        _maxRowsPerCommit = maxRowsPerCommit;
        _loop = Task.Run(RunAsync);
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

    public async ValueTask DisposeAsync()
    {
        _requests.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
    }

    private Task Enqueue(Request request)
    {
        if (!_requests.Writer.TryWrite(request))
        {
            throw new ObjectDisposedException(nameof(TaskWriteBatcher), "the task store is shutting down");
        }

        return request.Done.Task;
    }

    private async Task RunAsync()
    {
        var batch = new List<Request>();
        while (await _requests.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            var rows = 0;
            while (rows < _maxRowsPerCommit && _requests.Reader.TryRead(out var request))
            {
                batch.Add(request);
                rows += request.Rows;
            }

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
