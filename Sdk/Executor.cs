using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Mep.Protocol.Api;

namespace Mep.Sdk;

/// <summary>
/// Runs functions on one endpoint with one user endpoint config, like the paper's <c>Executor</c> (Listing 2):
/// <code>
/// await using var ex = new Executor(client, endpointId, new JsonObject { ["queue"] = "gpu" });
/// var result = await ex.Submit(functionId, new Dictionary&lt;string, string&gt; { ["name"] = "world" });
/// </code>
/// Submissions are sent as one <c>POST /v1/endpoints/{id}/submit</c> per batch (up to
/// <see cref="ExecutorOptions.MaxBatchSize"/>, after <see cref="ExecutorOptions.BatchWindow"/> if one is set); batches
/// go one at a time, so submissions made while a batch is in flight join the next one. One background loop asks
/// <c>POST /v1/tasks/status</c> about every outstanding task, holding the request on the server until one finishes
/// (<see cref="ExecutorOptions.LongPollWait"/>), and completes each task's <see cref="Task"/> when its status is final;
/// callers never poll a task. A rejected batch faults every submission in it; it is not retried,
/// because the server may have accepted it before the error and a retry could run the tasks twice.
/// </summary>
public sealed class Executor : IAsyncDisposable
{
    private readonly MepClient client;
    private readonly JsonObject? userEndpointConfig;
    private readonly ExecutorOptions options;
    private readonly Channel<SubmittedTask> submissions = Channel.CreateUnbounded<SubmittedTask>(
        new UnboundedChannelOptions { SingleReader = true });
    // Capacity 1, extra writes dropped: a "something changed" flag the poll loop can wait on.
    private readonly Channel<bool> wake = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly ConcurrentDictionary<Guid, SubmittedTask> outstanding = new();
    private readonly CancellationTokenSource stopping = new();
    private readonly Task submitLoop;
    private readonly Task pollLoop;
    private volatile bool newTasks;
    // Set by the submission loop as its very last step. Not submitLoop.IsCompleted: the poll loop can wake on the
    // loop's final signal before that task is marked complete, and would then sleep forever.
    private volatile bool submissionsDone;
    private volatile string? userEndpointId;
    private int closed;

    public Executor(MepClient client, string endpointId, JsonObject? userEndpointConfig = null, ExecutorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrWhiteSpace(endpointId);
        this.client = client;
        EndpointId = endpointId;
        // Our own copy: a caller mutating their object later must not change what later batches send.
        this.userEndpointConfig = userEndpointConfig?.DeepClone().AsObject();
        this.options = options ?? new ExecutorOptions();
        this.options.Validate();
        submitLoop = Task.Run(SubmitLoopAsync);
        pollLoop = Task.Run(PollLoopAsync);
    }

    public string EndpointId { get; }

    /// <summary>The user endpoint the last accepted batch went to (same config, same identity: same id).</summary>
    public string? UserEndpointId => userEndpointId;

    /// <summary>Tasks accepted by the API whose final status has not been seen yet.</summary>
    public int OutstandingCount => outstanding.Count;

    /// <summary>Submits one task; the returned task completes with its result, or faults with
    /// <see cref="TaskFailedException"/> (status failed) or <see cref="MepApiException"/> (batch rejected).</summary>
    public Task<TaskResultView> Submit(
        Guid functionId, IReadOnlyDictionary<string, string>? args = null, double? walltimeSeconds = null) =>
        SubmitTracked(functionId, args, walltimeSeconds).Result;

    /// <summary>Like <see cref="Submit"/>, returning the handle that also exposes the task id and final view.</summary>
    public SubmittedTask SubmitTracked(
        Guid functionId, IReadOnlyDictionary<string, string>? args = null, double? walltimeSeconds = null)
    {
        var copy = args is null ? null : new Dictionary<string, string>(args, StringComparer.Ordinal);
        return Enqueue(new TaskSubmission(functionId, copy, walltimeSeconds));
    }

    /// <summary>Submits a call of a Python function, <c>entry(*args, **kwargs)</c>; the returned task completes with its
    /// result (<see cref="TaskResultView.ReturnValue"/>), or faults like <see cref="Submit"/>'s.</summary>
    public Task<TaskResultView> SubmitPython(
        Guid functionId, JsonArray? args = null, JsonObject? kwargs = null, double? walltimeSeconds = null) =>
        SubmitPythonTracked(functionId, args, kwargs, walltimeSeconds).Result;

    /// <summary>Like <see cref="SubmitPython"/>, returning the handle that also exposes the task id and final view.</summary>
    public SubmittedTask SubmitPythonTracked(
        Guid functionId, JsonArray? args = null, JsonObject? kwargs = null, double? walltimeSeconds = null) =>
        // Our own copies: the caller may change their nodes later, and a node belongs to one parent only.
        Enqueue(new TaskSubmission(
            functionId, null, walltimeSeconds, (args ?? []).DeepClone().AsArray(), (kwargs ?? []).DeepClone().AsObject()));

    /// <summary>Calls a Python function and returns what it returned; faults with <see cref="TaskFailedException"/>
    /// (whose <see cref="TaskFailedException.PythonException"/> holds a raised exception and its traceback).</summary>
    public async Task<JsonNode?> Call(Guid functionId, JsonArray? args = null, JsonObject? kwargs = null, double? walltimeSeconds = null) =>
        (await SubmitPython(functionId, args, kwargs, walltimeSeconds).ConfigureAwait(false)).ReturnValue;

    /// <summary>
    /// Stops taking submissions, sends what is pending and, with <paramref name="waitForResults"/>, waits until every
    /// accepted task has finished. Without it, or when <paramref name="cancellationToken"/> fires, outstanding tasks are
    /// cancelled locally (they still run on the endpoint). Safe to call more than once.
    /// </summary>
    public async Task ShutdownAsync(bool waitForResults = true, CancellationToken cancellationToken = default)
    {
        Interlocked.Exchange(ref closed, 1);
        submissions.Writer.TryComplete();
        try
        {
            await submitLoop.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (waitForResults)
            {
                await pollLoop.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            if (!pollLoop.IsCompleted || !submitLoop.IsCompleted)
            {
                await stopping.CancelAsync().ConfigureAwait(false);
                await Task.WhenAll(submitLoop, pollLoop).ConfigureAwait(false);
            }

            foreach (var task in outstanding.Values)
            {
                task.SetCanceled();
            }

            outstanding.Clear();
        }
    }

    private SubmittedTask Enqueue(TaskSubmission submission)
    {
        var submitted = new SubmittedTask(submission);
        if (Volatile.Read(ref closed) != 0 || !submissions.Writer.TryWrite(submitted))
        {
            throw new ObjectDisposedException(nameof(Executor), "the executor is shut down; no more submissions");
        }

        return submitted;
    }

    public async ValueTask DisposeAsync()
    {
        await ShutdownAsync(waitForResults: true).ConfigureAwait(false);
        stopping.Dispose();
    }

    private async Task SubmitLoopAsync()
    {
        var batch = new List<SubmittedTask>(options.MaxBatchSize);
        var reader = submissions.Reader;
        try
        {
            while (await reader.WaitToReadAsync(stopping.Token).ConfigureAwait(false))
            {
                await CollectBatchAsync(reader, batch).ConfigureAwait(false);
                if (batch.Count > 0)
                {
                    await SendBatchAsync(batch).ConfigureAwait(false);
                    batch.Clear();
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Shut down without waiting: whatever was not sent is cancelled below.
        }
        finally
        {
            foreach (var task in batch)
            {
                task.SetCanceled();
            }

            while (reader.TryRead(out var unsent))
            {
                unsent.SetCanceled();
            }

            submissionsDone = true;
            wake.Writer.TryWrite(true); // let the poll loop notice that no more tasks are coming
        }
    }

    private async Task CollectBatchAsync(ChannelReader<SubmittedTask> reader, List<SubmittedTask> batch)
    {
        using var window = CancellationTokenSource.CreateLinkedTokenSource(stopping.Token);
        window.CancelAfter(options.BatchWindow);
        while (batch.Count < options.MaxBatchSize)
        {
            if (reader.TryRead(out var next))
            {
                batch.Add(next);
                continue;
            }

            try
            {
                if (!await reader.WaitToReadAsync(window.Token).ConfigureAwait(false))
                {
                    return; // completed by shutdown: send what we have now
                }
            }
            catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
            {
                return; // the window closed
            }
        }
    }

    private async Task SendBatchAsync(List<SubmittedTask> batch)
    {
        SubmitResponse response;
        try
        {
            var request = new SubmitRequest(batch.Select(t => t.Submission).ToList(), userEndpointConfig);
            response = await client.SubmitAsync(EndpointId, request, stopping.Token).ConfigureAwait(false);
            if (response.TaskIds.Count != batch.Count)
            {
                throw new InvalidDataException(
                    $"the server answered {response.TaskIds.Count} task ids for a batch of {batch.Count}");
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            foreach (var task in batch)
            {
                task.SetFault(e);
            }

            return;
        }

        userEndpointId = response.UserEndpointId;
        for (var i = 0; i < batch.Count; i++)
        {
            // Registered before Accepted completes, so a caller that saw the id can rely on it being watched.
            outstanding[response.TaskIds[i]] = batch[i];
            batch[i].SetAccepted(response.TaskIds[i]);
        }

        newTasks = true;
        wake.Writer.TryWrite(true);
    }

    private async Task PollLoopAsync()
    {
        var interval = options.MinPollInterval;
        try
        {
            while (true)
            {
                if (outstanding.IsEmpty)
                {
                    if (submissionsDone)
                    {
                        return;
                    }

                    await wake.Reader.ReadAsync(stopping.Token).ConfigureAwait(false);
                    continue;
                }

                if (newTasks)
                {
                    newTasks = false;
                    interval = options.MinPollInterval;
                }

                if (options.LongPollWait > TimeSpan.Zero && outstanding.Count <= options.MaxStatusBatch)
                {
                    var started = System.Diagnostics.Stopwatch.GetTimestamp();
                    var outcome = await LongPollOnceAsync().ConfigureAwait(false);
                    if (outcome == LongPoll.Empty && System.Diagnostics.Stopwatch.GetElapsedTime(started) < options.LongPollWait / 2)
                    {
                        // Answered early with nothing: a server that does not hold requests, or a failing one. Pause
                        // as plain polling does rather than ask again at once.
                        await Task.Delay(interval, stopping.Token).ConfigureAwait(false);
                        interval = TimeSpan.FromTicks(Math.Min(interval.Ticks * 2, options.MaxPollInterval.Ticks));
                    }
                    else if (outcome == LongPoll.Progressed)
                    {
                        interval = options.MinPollInterval;
                    }

                    continue;
                }

                await Task.Delay(interval, stopping.Token).ConfigureAwait(false);
                var progressed = await PollOnceAsync().ConfigureAwait(false);
                interval = progressed
                    ? options.MinPollInterval
                    : TimeSpan.FromTicks(Math.Min(interval.Ticks * 2, options.MaxPollInterval.Ticks));
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // ShutdownAsync cancels what is left.
        }
    }

    private enum LongPoll
    {
        Progressed,
        Empty,
        CutShort,
    }

    /// <summary>
    /// One long poll over every outstanding task: the server answers when one finishes. New submissions cut it short
    /// (their tasks must be watched too, and may be the quick ones).
    /// </summary>
    private async Task<LongPoll> LongPollOnceAsync()
    {
        while (wake.Reader.TryRead(out _))
        {
            // Signals of submissions already in the snapshot below.
        }

        newTasks = false;
        var ids = outstanding.Keys.ToList();
        using var cut = CancellationTokenSource.CreateLinkedTokenSource(stopping.Token);
        var request = client.WaitForFinishedAsync(ids, options.LongPollWait, cut.Token);
        var woken = wake.Reader.WaitToReadAsync(cut.Token).AsTask();
        var first = await Task.WhenAny(request, woken).ConfigureAwait(false);
        // Either way the other wait ends here: no request or channel waiter outlives this round.
        await cut.CancelAsync().ConfigureAwait(false);
        TaskStatusResponse status;
        try
        {
            status = await request.ConfigureAwait(false);
        }
        catch (Exception) when (first != request && !stopping.IsCancellationRequested)
        {
            return LongPoll.CutShort;
        }
        catch (Exception e) when (IsTransient(e))
        {
            return LongPoll.Empty;
        }
        catch (Exception e) when (e is not OperationCanceledException || !stopping.IsCancellationRequested)
        {
            FaultAll(ids, e);
            return LongPoll.Progressed;
        }

        return Apply(status) ? LongPoll.Progressed : LongPoll.Empty;
    }

    /// <summary>One status round over every outstanding task. True when at least one task finished.</summary>
    private async Task<bool> PollOnceAsync()
    {
        var progressed = false;
        foreach (var chunk in outstanding.Keys.Chunk(options.MaxStatusBatch))
        {
            TaskStatusResponse status;
            try
            {
                status = await client.GetTaskStatusAsync(chunk, stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (IsTransient(e))
            {
                // Server restarting, network blip, HTTP timeout: back off and ask again next round.
                return progressed;
            }
            catch (Exception e) when (e is not OperationCanceledException || !stopping.IsCancellationRequested)
            {
                // An expired token or a revoked grant will not heal by asking again, nor will a bug: fail these tasks
                // now instead of leaving their callers waiting forever.
                FaultAll(chunk, e);
                progressed = true;
                continue;
            }

            progressed |= Apply(status);
        }

        return progressed;
    }

    /// <summary>Completes the outstanding tasks the answer says finished (or are unknown). True when any did.</summary>
    private bool Apply(TaskStatusResponse status)
    {
        var progressed = false;
        foreach (var (id, view) in status.Tasks)
        {
            if (view.Status != Protocol.Api.TaskStatus.Pending && outstanding.TryRemove(id, out var task))
            {
                task.SetCompleted(view);
                progressed = true;
            }
        }

        foreach (var id in status.NotFound)
        {
            if (outstanding.TryRemove(id, out var task))
            {
                task.SetFault(new MepApiException(new Problem(
                    "about:blank", "Not Found", 404, $"task {id} is no longer known to the server")));
                progressed = true;
            }
        }

        return progressed;
    }

    private bool IsTransient(Exception e) => e switch
    {
        MepApiException api => api.Status is 408 or 429 or >= 500 or < 400,
        HttpRequestException => true,
        TaskCanceledException => !stopping.IsCancellationRequested, // HttpClient.Timeout, not our shutdown
        _ => false,
    };

    private void FaultAll(IEnumerable<Guid> ids, Exception error)
    {
        foreach (var id in ids)
        {
            if (outstanding.TryRemove(id, out var task))
            {
                task.SetFault(error);
            }
        }
    }
}
