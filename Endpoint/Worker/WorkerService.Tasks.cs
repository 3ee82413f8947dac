using System.Globalization;
using System.Text.Json;
using Mep.Protocol;
using Mep.Protocol.Messages;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Mep.Endpoint.Worker;

/// <summary>The worker's deliveries: dedupe, slot, attempts count, TaskStarted, run, result with confirms, then ack.</summary>
internal sealed partial class WorkerService
{
    internal Task OnDeliveryAsync(ulong deliveryTag, bool redelivered, string? messageId, string? type, byte[] body)
    {
        bool refuse;
        lock (_gate)
        {
            refuse = _stopping;
        }

        if (refuse)
        {
            // Stopping: give it straight back so another worker runs it.
            return SettleAsync([deliveryTag], ack: false);
        }

        if (type == BrokerNames.TaskBundleType)
        {
            return OnBundleAsync(deliveryTag, redelivered, body);
        }

        Start(deliveryTag, redelivered, messageId, body, parsed: null);
        return Task.CompletedTask;
    }

    /// <summary>Each task of a bundle is handled as if it had come alone, under a part tag (<see cref="TaskBundles"/>).</summary>
    private Task OnBundleAsync(ulong deliveryTag, bool redelivered, byte[] body)
    {
        List<TaskMessage> tasks;
        try
        {
            tasks = ProtocolJson.Deserialize(body, ProtocolJsonContext.Default.ListTaskMessage);
        }
        catch (JsonException e)
        {
            // No task in it can be told apart from the rest: dropped whole (dead-lettered if the queue has a
            // dead-letter exchange). Only a broken silo sends one.
            Log.Warn($"rejected a task bundle that cannot be read: {e.Message}");
            return RejectAsync(deliveryTag);
        }

        if (tasks.Count == 0)
        {
            return SettleAsync([deliveryTag], ack: true);
        }

        var parts = _bundles.Split(deliveryTag, tasks.Count);
        for (var i = 0; i < tasks.Count; i++)
        {
            Start(parts[i], redelivered, tasks[i].TaskId.ToString(), body: null, tasks[i]);
        }

        return Task.CompletedTask;
    }

    // Not awaited: the consumer's dispatch loop waits for what it is handed, and up to MaxTasks tasks run at once.
    // The handler starts here, on the loop's thread, rather than through Task.Run: its first steps (parse, slot,
    // attempts count) are short, it gives the thread back at its first wait (a slot, the task itself), and a warm
    // task's start saves a thread-pool wake-up.
    private void Start(ulong deliveryTag, bool redelivered, string? messageId, byte[]? body, TaskMessage? parsed)
    {
        var id = Interlocked.Increment(ref _nextHandler);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _handlers[id] = done.Task;
        _ = HandleTrackedAsync(id, done, deliveryTag, redelivered, messageId, body, parsed);
    }

    private async Task HandleTrackedAsync(long id, TaskCompletionSource done, ulong deliveryTag, bool redelivered, string? messageId,
        byte[]? body, TaskMessage? parsed)
    {
        try
        {
            await HandleDeliveryAsync(deliveryTag, redelivered, messageId, body, parsed).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Log.Error($"unexpected failure handling delivery {messageId}: {e}");
        }
        finally
        {
            _handlers.TryRemove(id, out _);
            done.SetResult();
        }
    }

    internal void OnConsumerCancelledByBroker() =>
        RequestStop(new StopRequest("consumer-cancelled", ExitCodes.BrokerFailure,
            $"the broker cancelled our subscription to {Broker.TaskQueue} (queue deleted?)"));

    /// <param name="body">The message of a task that came alone; null with <paramref name="parsed"/>, a bundle's task.</param>
    private async Task HandleDeliveryAsync(ulong deliveryTag, bool redelivered, string? messageId, byte[]? body, TaskMessage? parsed)
    {
        TaskMessage? task = parsed;
        string? invalid = null;
        Guid taskId = parsed?.TaskId ?? Guid.Empty;
        try
        {
            if (task is null)
            {
                task = ProtocolJson.Deserialize(body, ProtocolJsonContext.Default.TaskMessage);
                taskId = task.TaskId;
            }
        }
        catch (JsonException e)
        {
            if (!Guid.TryParse(messageId, out taskId))
            {
                // Cannot even say which task this was: drop it (dead-lettered if the queue has a dead-letter exchange).
                Log.Warn($"rejected a delivery that is not a task message and has no task id: {e.Message}");
                await RejectAsync(deliveryTag).ConfigureAwait(false);
                return;
            }

            invalid = $"invalid task message: {e.Message}";
        }

        TaskResultMessage result;
        switch (_tracker.Begin(taskId, deliveryTag, out var kept))
        {
            case TaskTracker.Decision.AlreadyCompleted:
                Log.Info($"task {taskId} delivered again after completing here; acknowledged without running");
                await SettleAsync([deliveryTag], ack: true).ConfigureAwait(false);
                return;
            case TaskTracker.Decision.Joined:
                Log.Info($"task {taskId} delivered again while running; settled with the running one");
                return;
            case TaskTracker.Decision.PublishKept:
                Log.Info($"task {taskId} delivered again; publishing the result kept from its run");
                result = kept!;
                break;
            default:
                var run = invalid is not null
                    ? Failure(taskId, invalid)
                    : await RunAsync(task!, redelivered).ConfigureAwait(false);
                if (run is null)
                {
                    return; // handed back
                }

                result = run;
                break;
        }

        try
        {
            await _results.SendAsync(result).ConfigureAwait(false);
        }
        catch (Exception e) when (e is PublishException or AlreadyClosedException or OperationInterruptedException or OperationCanceledException or TimeoutException)
        {
            // Not acked, so not lost: the result is kept and published again if the task comes back here. The run
            // ended without the worker dying, so it does not count (its slot's record was blanked as it ended).
            var tags = _tracker.Release(taskId, result);
            var failures = Interlocked.Increment(ref _publishFailures);
            var backoff = TimeSpan.FromSeconds(Math.Min(MaxPublishBackoff.TotalSeconds, failures));
            Log.Warn($"result of task {taskId} not published ({Describe(e)}); returning the task to the queue in {Format(backoff)}");
            await Task.Delay(backoff, _stopRequested.Token).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
            await SettleAsync(tags, ack: false).ConfigureAwait(false);
            return;
        }

        Interlocked.Exchange(ref _publishFailures, 0);
        await SettleAsync(_tracker.Complete(taskId), ack: true).ConfigureAwait(false);
        if (redelivered)
        {
            _attempts.Forget(taskId);
        }

        lock (_gate)
        {
            _completed++;
        }

        var seconds = (result.CompletedAt - result.StartedAt).TotalSeconds;
        Log.Info(string.Create(CultureInfo.InvariantCulture,
            $"task {taskId} {result.State.ToString().ToLowerInvariant()} ({seconds:0.###} s){(result.Error is null ? "" : ": " + result.Error)}"));
    }

    /// <summary>
    /// Runs the task in a free slot to a result; null when the task was handed back to the queue (the worker is
    /// stopping).
    /// </summary>
    private async Task<TaskResultMessage?> RunAsync(TaskMessage task, bool redelivered)
    {
        if (_executor.Refusal(task) is { } refusal)
        {
            return Failure(task.TaskId, refusal);
        }

        TaskSlot slot;
        try
        {
            slot = await _freeSlots.Reader.ReadAsync(_abortTasks.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await SettleAsync(_tracker.Release(task.TaskId, null), ack: false).ConfigureAwait(false);
            return null;
        }

        try
        {
            var prior = _attempts.PriorDeaths(task.TaskId, redelivered);
            if (prior >= _doc.Limits.MaxWorkerDeaths)
            {
                Log.Warn($"task {task.TaskId} killed its worker {prior} times; failing it instead of running it again");
                return Failure(task.TaskId, string.Create(CultureInfo.InvariantCulture, $"its worker died {prior} times while running it"));
            }

            // Recorded before the run: if this worker dies, the next one to get the task sees one more death. Blanked
            // when the slot is given back, whatever the end.
            _attempts.Begin(slot.Index, task.TaskId, prior + 1);
            ChangeRunning(+1);
            // The start is reported on its own only once the task has run for StartReportDelay: a short task's start
            // goes with its result, one event instead of two. A start reported on its own is published before the
            // result (frames go out in call order), so the silo still sees it first.
            var start = new TaskStartedMessage(task.TaskId, DateTimeOffset.UtcNow, _identity.Hostname, _placement.WorkerId, _placement.JobId, prior + 1);
            var claim = new StartClaim();
            using var ended = CancellationTokenSource.CreateLinkedTokenSource(_abortTasks.Token);
            Task reported;
            if (prior > 0)
            {
                // A run after a worker death reports its start before it runs: it may kill this worker too, and its
                // start belongs in the record.
                claim.TryClaim();
                reported = PublishStartedAsync(start);
            }
            else
            {
                reported = ReportStartLaterAsync(start, claim, ended.Token);
            }

            try
            {
                Log.Info($"task {task.TaskId} started ({task.Kind.ToString().ToLowerInvariant()}, slot {slot.Index}, attempt {prior + 1})");
                try
                {
                    if (prior > 0)
                    {
                        await reported.ConfigureAwait(false);
                    }

                    var result = await _executor.RunAsync(task, slot, _abortTasks.Token).ConfigureAwait(false);
                    if (claim.TryClaim())
                    {
                        result = result with { Started = start };
                    }

                    await ended.CancelAsync().ConfigureAwait(false);
                    await reported.ConfigureAwait(false);
                    return result;
                }
                catch (OperationCanceledException) when (_abortTasks.IsCancellationRequested)
                {
                    Log.Info($"task {task.TaskId} interrupted by shutdown; returned to the queue");
                    // Not a death: blanked before the broker can hand the task to a worker that would read it.
                    _attempts.End(slot.Index);
                    await SettleAsync(_tracker.Release(task.TaskId, null), ack: false).ConfigureAwait(false);
                    return null;
                }
            }
            finally
            {
                // Never left behind unobserved (it logs its own failure and does not throw).
                await reported.ConfigureAwait(false);
                ChangeRunning(-1);
            }
        }
        finally
        {
            _attempts.End(slot.Index);
            _freeSlots.Writer.TryWrite(slot);
        }
    }

    /// <summary>How long a task runs before its start is reported on its own rather than with its result.</summary>
    internal static readonly TimeSpan StartReportDelay = TimeSpan.FromMilliseconds(50);

    /// <summary>Whoever claims first reports the start: the delay (on its own) or the end (with the result).</summary>
    private sealed class StartClaim
    {
        private int _claimed;

        public bool TryClaim() => Interlocked.Exchange(ref _claimed, 1) == 0;
    }

    private async Task ReportStartLaterAsync(TaskStartedMessage start, StartClaim claim, CancellationToken ended)
    {
        try
        {
            await Task.Delay(StartReportDelay, ended).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        if (claim.TryClaim())
        {
            await PublishStartedAsync(start).ConfigureAwait(false);
        }
    }

    /// <summary>Best effort: the task runs even if the running transition cannot be reported (its result still will be).</summary>
    private async Task PublishStartedAsync(TaskStartedMessage started)
    {
        var taskId = started.TaskId;
        try
        {
            await PublishEventAsync(
                new EndpointEvent(EndpointEventKind.TaskStarted, _doc.UepId, DateTimeOffset.UtcNow, Pid: Environment.ProcessId, Started: started),
                Guid.NewGuid().ToString(), _abortTasks.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is PublishException or AlreadyClosedException or OperationInterruptedException or OperationCanceledException or TimeoutException)
        {
            Log.Warn($"task {taskId}: start not published ({Describe(e)})");
        }
    }

    private TaskResultMessage Failure(Guid taskId, string error) =>
        new(taskId, TaskState.Failed, null, "", "", false, error, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow,
            _identity.Hostname, _identity.Uid, _identity.Username);

    private void ChangeRunning(int delta)
    {
        bool becameBusy;
        lock (_gate)
        {
            becameBusy = _running == 0 && delta > 0;
            _running += delta;
            _lastTaskAt = DateTimeOffset.UtcNow;
        }

        if (becameBusy && Volatile.Read(ref _writtenRunning) == 0)
        {
            // At once, not after the status loop's pause: a block the UEP sees idle (nothing running, nothing left
            // in the queue because this worker just took it) may be given back, and the task with it. Beside the
            // task, not before it: the file's create, write and rename took ~0.3 ms of every serial task's latency.
            // Only when the file says idle: a worker going from one short task to the next is "busy" again for
            // every task, and rewrote the file for each (file creates, renames and unlinks were about a quarter of a
            // worker's profile in a throughput run, this rewrite among them).
            _ = Task.Run(WriteStatusNow);
        }

        _statusChanged.Release();
    }

    private WorkerStatus Status(WorkerPhase phase, string? reason = null)
    {
        lock (_gate)
        {
            return new WorkerStatus(_placement.WorkerId, _placement.BlockId, Environment.ProcessId, _identity.Hostname, _placement.JobId,
                phase, _running, _completed, _doc.MaxTasks, _lastTaskAt, DateTimeOffset.UtcNow, reason);
        }
    }

    /// <summary>
    /// One result goes as a <see cref="EndpointEventKind.Result"/> event with the task's id as its message id, as it
    /// always has; several (see <see cref="ResultBatcher"/>) as one <see cref="EndpointEventKind.Results"/> event.
    /// </summary>
    private Task PublishResultsAsync(IReadOnlyList<TaskResultMessage> results) =>
        results.Count == 1
            ? PublishEventAsync(new EndpointEvent(EndpointEventKind.Result, _doc.UepId, DateTimeOffset.UtcNow, Result: results[0], Pid: Environment.ProcessId),
                results[0].TaskId.ToString(), CancellationToken.None)
            : PublishEventAsync(new EndpointEvent(EndpointEventKind.Results, _doc.UepId, DateTimeOffset.UtcNow, Pid: Environment.ProcessId, Results: results),
                Guid.NewGuid().ToString(), CancellationToken.None);

    private async Task PublishEventAsync(EndpointEvent message, string messageId, CancellationToken cancel)
    {
        if (_publisher is null)
        {
            throw new AlreadyClosedException(new ShutdownEventArgs(ShutdownInitiator.Application, 0, "not connected"));
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(PublishTimeout);
        await _publisher.PublishAsync(message, messageId, timeout.Token).ConfigureAwait(false);
    }

    /// <summary>Acks or nacks (with requeue) deliveries; after a reconnect their tags are stale and the broker has requeued them already.</summary>
    private async Task SettleAsync(IReadOnlyList<ulong> tags, bool ack)
    {
        if (tags.Count == 0 || _taskChannel is null)
        {
            return;
        }

        // A bundle's part settles its share; the bundle's delivery goes to the broker with its last part.
        List<(ulong Tag, bool Ack)> settle = new(tags.Count);
        foreach (var tag in tags)
        {
            if (!TaskBundles.IsPart(tag))
            {
                settle.Add((tag, ack));
            }
            else if (_bundles.Settle(tag, ack) is { } whole)
            {
                settle.Add(whole);
            }
        }

        if (settle.Count == 0)
        {
            return;
        }

        await _settleGate.WaitAsync().ConfigureAwait(false);
        try
        {
            foreach (var (tag, positive) in settle)
            {
                if (positive)
                {
                    await _taskChannel.BasicAckAsync(tag, multiple: false).ConfigureAwait(false);
                }
                else
                {
                    await _taskChannel.BasicNackAsync(tag, multiple: false, requeue: true).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is AlreadyClosedException or OperationInterruptedException)
        {
            Log.Warn($"could not {(ack ? "ack" : "nack")} a delivery ({Describe(e)}); the broker requeues unacknowledged deliveries itself");
        }
        finally
        {
            _settleGate.Release();
        }
    }

    private async Task RejectAsync(ulong tag)
    {
        await _settleGate.WaitAsync().ConfigureAwait(false);
        try
        {
            await _taskChannel!.BasicRejectAsync(tag, requeue: false).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AlreadyClosedException or OperationInterruptedException)
        {
            Log.Warn($"could not reject a delivery: {Describe(e)}");
        }
        finally
        {
            _settleGate.Release();
        }
    }
}
