using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Threading.Channels;
using Mep.Protocol;
using Mep.Protocol.Launcher;
using Mep.Protocol.Messages;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Mep.Endpoint.Worker;

/// <summary>
/// A worker's life: connect with the UEP's broker user, consume the UEP's task queue (manual acks, prefetch =
/// <see cref="WorkerDocument.MaxTasks"/>), run each task in a slot, publish TaskStarted and then the result with
/// confirms, then ack. Counts runs per task in the shared attempts directory so that a task that keeps killing its
/// worker fails instead of looping. Stops on SIGTERM/SIGINT (tasks are killed and handed back), when its UEP is gone,
/// or on a broker failure it cannot recover from.
/// </summary>
internal sealed class WorkerService : IAsyncDisposable
{
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ConnectRetryDelay = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan MaxPublishBackoff = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StatusMinInterval = TimeSpan.FromMilliseconds(250);

    private readonly WorkerDocument _doc;
    private readonly WorkerPlacement _placement;
    private readonly ProcessIdentity _identity;
    private readonly TaskExecutor _executor;
    private readonly AttemptStore _attempts;
    private readonly WorkerStatusFile _status;
    private readonly ManagerLiveness _manager;
    private readonly TimeSpan _brokerRecoveryDeadline;
    private readonly TaskTracker _tracker = new();
    private readonly List<TaskSlot> _allSlots;
    private readonly Channel<TaskSlot> _freeSlots;
    private readonly string _consumerTag;

    private readonly Lock _gate = new();
    private bool _stopping;
    private int _running;
    private long _completed;
    private DateTimeOffset? _lastTaskAt;
    private long _connectionLostAt; // 0 while connected
    private int _publishFailures;

    private readonly TaskCompletionSource<StopRequest> _stop = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopRequested = new();
    private readonly CancellationTokenSource _abortTasks = new();
    private readonly ConcurrentDictionary<long, Task> _handlers = new();
    private long _nextHandler;
    private readonly SemaphoreSlim _settleGate = new(1, 1);
    private readonly SemaphoreSlim _statusChanged = new(0);

    private IConnection? _connection;
    private IChannel? _taskChannel;
    private IChannel? _eventChannel;
    private EventPublisher? _publisher;

    private sealed record StopRequest(string Reason, int ExitCode, string? Error = null);

    public WorkerService(WorkerDocument doc, WorkerPlacement placement, ProcessIdentity identity, ShellRunner shell,
        Func<int, TaskSlot> createSlot, TimeSpan brokerRecoveryDeadline)
    {
        _doc = doc;
        _placement = placement;
        _identity = identity;
        _brokerRecoveryDeadline = brokerRecoveryDeadline;
        _executor = new TaskExecutor(doc, shell);
        var directory = new UepDirectory(doc.RunDirectory);
        _attempts = new AttemptStore(directory.AttemptsPath);
        _status = new WorkerStatusFile(directory.WorkersPath, placement.WorkerId);
        _manager = new ManagerLiveness(directory.ManagerAlivePath, TimeSpan.FromSeconds(doc.ManagerTimeoutSeconds));
        _allSlots = Enumerable.Range(0, doc.MaxTasks).Select(createSlot).ToList();
        _freeSlots = Channel.CreateBounded<TaskSlot>(doc.MaxTasks);
        foreach (var slot in _allSlots)
        {
            _freeSlots.Writer.TryWrite(slot);
        }

        // Our own tag survives connection recovery (a server-named one may change).
        _consumerTag = $"mep-worker-{placement.WorkerId}-{Environment.ProcessId}";
    }

    private BrokerCredentials Broker => _doc.Broker;

    public string StatusPath => _status.Path;

    public async Task<int> RunAsync()
    {
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _status.TryWrite(Status(WorkerPhase.Running));

        try
        {
            await StartAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stopRequested.IsCancellationRequested)
        {
            // A signal or broker failure during start-up: handled below like any other stop.
        }
        catch (Exception e) when (e is WorkerBrokerException or OperationInterruptedException or AlreadyClosedException or TimeoutException)
        {
            RequestStop(new StopRequest("broker-failure", ExitCodes.BrokerFailure, e is WorkerBrokerException ? e.Message : $"broker: {Describe(e)}"));
        }

        using var loops = new CancellationTokenSource();
        var status = StatusLoopAsync(loops.Token);
        var watchdog = WatchdogLoopAsync(loops.Token);
        var stop = await _stop.Task.ConfigureAwait(false);
        var exitCode = await ShutdownAsync(stop).ConfigureAwait(false);
        await loops.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(status, watchdog).ConfigureAwait(false);
        // The last word, after the loop that could overwrite it has ended.
        _status.TryWrite(Status(WorkerPhase.Stopped, stop.Error ?? stop.Reason));
        return exitCode;
    }

    private async Task StartAsync()
    {
        var cancel = _stopRequested.Token;
        _connection = await ConnectAsync(cancel).ConfigureAwait(false);
        _connection.ConnectionShutdownAsync += OnConnectionShutdownAsync;
        _connection.RecoverySucceededAsync += OnRecoverySucceededAsync;
        _connection.ConnectionRecoveryErrorAsync += OnRecoveryErrorAsync;

        _eventChannel = await _connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true),
            cancel).ConfigureAwait(false);
        _eventChannel.ChannelShutdownAsync += (_, e) => OnChannelShutdown("results", e);
        _publisher = new EventPublisher(_eventChannel, Broker);

        _taskChannel = await _connection.CreateChannelAsync(cancellationToken: cancel).ConfigureAwait(false);
        _taskChannel.ChannelShutdownAsync += (_, e) => OnChannelShutdown("task", e);
        await _taskChannel.BasicQosAsync(0, (ushort)_doc.MaxTasks, global: false, cancel).ConfigureAwait(false);
        try
        {
            await _taskChannel.BasicConsumeAsync(
                Broker.TaskQueue, autoAck: false, _consumerTag, noLocal: false, exclusive: false, arguments: null,
                new WorkerConsumer(_taskChannel, this), cancel).ConfigureAwait(false);
        }
        catch (OperationInterruptedException e)
        {
            throw new WorkerBrokerException($"cannot consume task queue {Broker.TaskQueue}: {Describe(e)}");
        }

        Log.Info($"worker {_placement.WorkerId} consuming {Broker.TaskQueue} with up to {_doc.MaxTasks} tasks at once");
    }

    private async Task<IConnection> ConnectAsync(CancellationToken cancel)
    {
        var factory = new ConnectionFactory
        {
            HostName = Broker.Host,
            Port = Broker.Port,
            VirtualHost = Broker.VirtualHost,
            UserName = Broker.Username,
            Password = Broker.Password,
            AutomaticRecoveryEnabled = true,
            // We declare nothing (no configure permission); this recovers our consumer.
            TopologyRecoveryEnabled = true,
            NetworkRecoveryInterval = TimeSpan.FromSeconds(2),
            RequestedHeartbeat = TimeSpan.FromSeconds(30),
            ClientProvidedName = $"mep-endpoint worker {_placement.WorkerId} uep={_doc.UepId} pid={Environment.ProcessId}",
        };
        var target = $"{Broker.Host}:{Broker.Port} vhost {Broker.VirtualHost} as {Broker.Username}";
        var deadline = Stopwatch.GetTimestamp() + (long)(_brokerRecoveryDeadline.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            try
            {
                var connection = await factory.CreateConnectionAsync(cancel).ConfigureAwait(false);
                Log.Info($"connected to broker {target}");
                return connection;
            }
            catch (BrokerUnreachableException e) when (e.InnerException is AuthenticationFailureException)
            {
                throw new WorkerBrokerException($"broker refused the login {target}: {Describe(e)}");
            }
            catch (BrokerUnreachableException e)
            {
                if (Stopwatch.GetTimestamp() > deadline)
                {
                    throw new WorkerBrokerException($"cannot connect to broker {target} within {Format(_brokerRecoveryDeadline)}: {Describe(e)}");
                }

                Log.Warn($"cannot connect to broker {target} yet: {Describe(e)}");
                await Task.Delay(ConnectRetryDelay, cancel).ConfigureAwait(false);
            }
        }
    }

    internal Task OnDeliveryAsync(ulong deliveryTag, string? messageId, byte[] body)
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

        // Run outside the consumer's dispatch loop so that up to MaxTasks tasks run at once.
        var id = Interlocked.Increment(ref _nextHandler);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _handlers[id] = done.Task;
        _ = Task.Run(async () =>
        {
            try
            {
                await HandleDeliveryAsync(deliveryTag, messageId, body).ConfigureAwait(false);
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
        });
        return Task.CompletedTask;
    }

    internal void OnConsumerCancelledByBroker() =>
        RequestStop(new StopRequest("consumer-cancelled", ExitCodes.BrokerFailure,
            $"the broker cancelled our subscription to {Broker.TaskQueue} (queue deleted?)"));

    private async Task HandleDeliveryAsync(ulong deliveryTag, string? messageId, byte[] body)
    {
        TaskMessage? task = null;
        string? invalid = null;
        Guid taskId;
        try
        {
            task = ProtocolJson.Deserialize<TaskMessage>(body);
            taskId = task.TaskId;
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
        // The attempts count to put back if the task goes back to the queue: only a worker's death may raise it.
        var priorAttempts = 0;
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
                priorAttempts = _attempts.Read(taskId);
                break;
            default:
                var run = invalid is not null
                    ? (Result: Failure(taskId, invalid), Prior: 0)
                    : await RunAsync(task!).ConfigureAwait(false);
                if (run is not { } ran)
                {
                    return; // handed back
                }

                (result, priorAttempts) = ran;
                break;
        }

        try
        {
            await PublishEventAsync(
                new EndpointEvent(EndpointEventKind.Result, _doc.UepId, DateTimeOffset.UtcNow, Result: result, Pid: Environment.ProcessId),
                taskId.ToString(), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is PublishException or AlreadyClosedException or OperationInterruptedException or OperationCanceledException or TimeoutException)
        {
            // Not acked, so not lost: the result is kept and published again if the task comes back here. The run
            // ended without the worker dying, so it does not count.
            _attempts.Write(taskId, priorAttempts);
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
        _attempts.Remove(taskId);
        lock (_gate)
        {
            _completed++;
        }

        var seconds = (result.CompletedAt - result.StartedAt).TotalSeconds;
        Log.Info(string.Create(CultureInfo.InvariantCulture,
            $"task {taskId} {result.State.ToString().ToLowerInvariant()} ({seconds:0.###} s){(result.Error is null ? "" : ": " + result.Error)}"));
    }

    /// <summary>
    /// Runs the task in a free slot to a result, with the attempts count it had before this run; null when the task
    /// was handed back to the queue (the worker is stopping).
    /// </summary>
    private async Task<(TaskResultMessage Result, int Prior)?> RunAsync(TaskMessage task)
    {
        if (_executor.Refusal(task) is { } refusal)
        {
            return (Failure(task.TaskId, refusal), 0);
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
            var prior = _attempts.Read(task.TaskId);
            if (prior >= _doc.Limits.MaxWorkerDeaths)
            {
                Log.Warn($"task {task.TaskId} killed its worker {prior} times; failing it instead of running it again");
                return (Failure(task.TaskId, string.Create(CultureInfo.InvariantCulture, $"its worker died {prior} times while running it")), prior);
            }

            // Written before the run: if this worker dies, the next one to get the task sees one more death.
            _attempts.Write(task.TaskId, prior + 1);
            ChangeRunning(+1);
            try
            {
                await PublishStartedAsync(task.TaskId, prior + 1).ConfigureAwait(false);
                Log.Info($"task {task.TaskId} started ({task.Kind.ToString().ToLowerInvariant()}, slot {slot.Index}, attempt {prior + 1})");
                try
                {
                    return (await _executor.RunAsync(task, slot, _abortTasks.Token).ConfigureAwait(false), prior);
                }
                catch (OperationCanceledException) when (_abortTasks.IsCancellationRequested)
                {
                    _attempts.Write(task.TaskId, prior);
                    Log.Info($"task {task.TaskId} interrupted by shutdown; returned to the queue");
                    await SettleAsync(_tracker.Release(task.TaskId, null), ack: false).ConfigureAwait(false);
                    return null;
                }
            }
            finally
            {
                ChangeRunning(-1);
            }
        }
        finally
        {
            _freeSlots.Writer.TryWrite(slot);
        }
    }

    /// <summary>Best effort: the task runs even if the running transition cannot be reported (its result still will be).</summary>
    private async Task PublishStartedAsync(Guid taskId, int attempt)
    {
        var started = new TaskStartedMessage(taskId, DateTimeOffset.UtcNow, _identity.Hostname, _placement.WorkerId, _placement.JobId, attempt);
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
        lock (_gate)
        {
            _running += delta;
            _lastTaskAt = DateTimeOffset.UtcNow;
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

        await _settleGate.WaitAsync().ConfigureAwait(false);
        try
        {
            foreach (var tag in tags)
            {
                if (ack)
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

    /// <summary>
    /// Rewrites the status file when the number of running tasks changes (at most every <see cref="StatusMinInterval"/>,
    /// so a burst of short tasks costs a few writes, not one per task) and at least every heartbeat period.
    /// </summary>
    private async Task StatusLoopAsync(CancellationToken cancel)
    {
        var period = TimeSpan.FromSeconds(_doc.HeartbeatPeriodSeconds);
        try
        {
            while (true)
            {
                await _statusChanged.WaitAsync(period, cancel).ConfigureAwait(false);
                await Task.Delay(StatusMinInterval, cancel).ConfigureAwait(false);
                while (_statusChanged.CurrentCount > 0 && _statusChanged.Wait(0))
                {
                    // Changes during the pause are covered by the write below.
                }

                _status.TryWrite(Status(WorkerPhase.Running));
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
        }
    }

    /// <summary>Checks, about once a second, for a connection that stays lost too long and for a UEP that is gone.</summary>
    private async Task WatchdogLoopAsync(CancellationToken cancel)
    {
        var period = TimeSpan.FromTicks(Math.Clamp(_manager.Timeout.Ticks / 4, TimeSpan.TicksPerMillisecond * 50, TimeSpan.TicksPerSecond));
        using var timer = new PeriodicTimer(period);
        try
        {
            while (await timer.WaitForNextTickAsync(cancel).ConfigureAwait(false))
            {
                var lostAt = Interlocked.Read(ref _connectionLostAt);
                if (lostAt != 0 && Stopwatch.GetElapsedTime(lostAt) > _brokerRecoveryDeadline)
                {
                    RequestStop(new StopRequest("broker-failure", ExitCodes.BrokerFailure,
                        $"connection to broker {Broker.Host}:{Broker.Port} lost and not recovered within {Format(_brokerRecoveryDeadline)}"));
                }
                else if (_manager.IsGone())
                {
                    RequestStop(new StopRequest(
                        $"manager-gone: the UEP's liveness file has not changed for {Format(_manager.Timeout)}", ExitCodes.Ok));
                }
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
        }
    }

    private void OnSignal(PosixSignalContext context)
    {
        // Handle it ourselves: tasks must be killed and handed back before we go.
        context.Cancel = true;
        Log.Info($"received {context.Signal}; stopping");
        RequestStop(new StopRequest("signal", ExitCodes.Ok));
    }

    private void RequestStop(StopRequest request)
    {
        lock (_gate)
        {
            _stopping = true;
        }

        if (_stop.TrySetResult(request))
        {
            _stopRequested.Cancel();
        }
    }

    private Task OnConnectionShutdownAsync(object sender, ShutdownEventArgs e)
    {
        if (e.Initiator != ShutdownInitiator.Application)
        {
            Interlocked.CompareExchange(ref _connectionLostAt, Stopwatch.GetTimestamp(), 0);
            Log.Warn($"connection to broker lost ({e.ReplyCode} {e.ReplyText}); recovering for up to {Format(_brokerRecoveryDeadline)}");
        }

        return Task.CompletedTask;
    }

    private Task OnRecoverySucceededAsync(object sender, AsyncEventArgs e)
    {
        Interlocked.Exchange(ref _connectionLostAt, 0);
        Log.Info("connection to broker recovered; consuming again");
        return Task.CompletedTask;
    }

    private Task OnRecoveryErrorAsync(object sender, ConnectionRecoveryErrorEventArgs e)
    {
        Log.Warn($"broker connection recovery attempt failed: {Describe(e.Exception)}");
        return Task.CompletedTask;
    }

    /// <summary>
    /// A channel closed by the broker with a channel-level error (access refused, not found, precondition failed)
    /// is not recovered by the client and would fail the same way again: stop. Connection loss is handled above.
    /// </summary>
    private Task OnChannelShutdown(string name, ShutdownEventArgs e)
    {
        if (e.Initiator == ShutdownInitiator.Peer && e.ReplyCode is >= 300 and < 500 and not 320)
        {
            RequestStop(new StopRequest("broker-failure", ExitCodes.BrokerFailure,
                $"the broker closed the {name} channel: {e.ReplyCode} {e.ReplyText}"));
        }

        return Task.CompletedTask;
    }

    private async Task<int> ShutdownAsync(StopRequest stop)
    {
        Log.Info($"stopping ({stop.Reason})");
        if (_taskChannel is { IsOpen: true })
        {
            await Quietly(_taskChannel.BasicCancelAsync(_consumerTag)).ConfigureAwait(false);
        }

        // Kill what still runs; each handler hands its task back to the queue.
        await _abortTasks.CancelAsync().ConfigureAwait(false);
        await Quietly(Task.WhenAll(_handlers.Values).WaitAsync(PublishTimeout + PublishTimeout)).ConfigureAwait(false);
        foreach (var slot in _allSlots)
        {
            slot.Dispose();
        }

        if (_connection is not null)
        {
            await Quietly(_connection.CloseAsync(CloseTimeout)).ConfigureAwait(false);
        }

        if (stop.Error is not null)
        {
            // Last line on stderr: the block's log shows it as the reason this worker failed.
            Log.Error(stop.Error);
        }
        else
        {
            Log.Info($"stopped ({stop.Reason})");
        }

        return stop.ExitCode;
    }

    private static async Task Quietly(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Log.Warn($"during shutdown: {Describe(e)}");
        }
    }

    private static string Format(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.###} s");

    /// <summary>The innermost message, which is where the client library puts the broker's reason.</summary>
    private static string Describe(Exception e)
    {
        var inner = e;
        while (inner.InnerException is not null)
        {
            inner = inner.InnerException;
        }

        return inner == e ? e.Message : $"{e.Message} ({inner.Message})";
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var slot in _allSlots)
        {
            slot.Dispose();
        }

        if (_taskChannel is not null)
        {
            await _taskChannel.DisposeAsync().ConfigureAwait(false);
        }

        if (_eventChannel is not null)
        {
            await _eventChannel.DisposeAsync().ConfigureAwait(false);
        }

        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }

        _stopRequested.Dispose();
        _abortTasks.Dispose();
        _settleGate.Dispose();
        _statusChanged.Dispose();
    }
}

/// <summary>A broker failure with a message fit for the last line of stderr.</summary>
internal sealed class WorkerBrokerException(string message) : Exception(message);
