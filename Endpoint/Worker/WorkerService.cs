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
internal sealed partial class WorkerService : IAsyncDisposable
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
    private readonly TaskBundles _bundles = new();
    private readonly ResultBatcher _results;
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
    private readonly Lock _statusWrite = new();
    private bool _statusFinal;
    // The running count the status file holds (written under _statusWrite).
    private int _writtenRunning;

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
        _results = new ResultBatcher(PublishResultsAsync);
        var directory = new UepDirectory(doc.RunDirectory);
        _attempts = new AttemptStore(directory.AttemptsPath, placement.WorkerId, identity.Hostname, doc.MaxTasks);
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
        catch (Exception e) when (e is BrokerException or OperationInterruptedException or AlreadyClosedException or TimeoutException)
        {
            RequestStop(new StopRequest("broker-failure", ExitCodes.BrokerFailure, e is BrokerException ? e.Message : $"broker: {Describe(e)}"));
        }

        using var loops = new CancellationTokenSource();
        var status = StatusLoopAsync(loops.Token);
        var watchdog = WatchdogLoopAsync(loops.Token);
        var stop = await _stop.Task.ConfigureAwait(false);
        var exitCode = await ShutdownAsync(stop).ConfigureAwait(false);
        await loops.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(status, watchdog).ConfigureAwait(false);
        // The last word, after the loop that could overwrite it has ended (and no busy write after it).
        lock (_statusWrite)
        {
            _statusFinal = true;
            _status.TryWrite(Status(WorkerPhase.Stopped, stop.Error ?? stop.Reason));
        }
        return exitCode;
    }

    private async Task StartAsync()
    {
        var cancel = _stopRequested.Token;
        // A worker starts because tasks wait (a cold UEP for the task that started it): python3 for the first slot
        // starts now, while this process connects, instead of after the first Python task arrived. It costs one
        // idle python3 (~15 MB) in a worker that only ever runs shell tasks.
        _allSlots.FirstOrDefault()?.Python.Warm(_abortTasks.Token);
        _connection = await BrokerConnect.ConnectAsync(Broker, $"mep-endpoint worker {_placement.WorkerId} uep={_doc.UepId} pid={Environment.ProcessId}", _brokerRecoveryDeadline, cancel).ConfigureAwait(false);
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
        // Tasks beyond the slots wait here for one (engine.prefetch_capacity): the next task is at hand when one ends.
        await _taskChannel.BasicQosAsync(0, (ushort)Math.Clamp(_doc.Prefetch > 0 ? _doc.Prefetch : _doc.MaxTasks, 1, ushort.MaxValue), global: false, cancel)
            .ConfigureAwait(false);
        try
        {
            await _taskChannel.BasicConsumeAsync(
                Broker.TaskQueue, autoAck: false, _consumerTag, noLocal: false, exclusive: false, arguments: null,
                new WorkerConsumer(_taskChannel, this), cancel).ConfigureAwait(false);
        }
        catch (OperationInterruptedException e)
        {
            throw new BrokerException($"cannot consume task queue {Broker.TaskQueue}: {Describe(e)}");
        }

        Log.Info($"worker {_placement.WorkerId} consuming {Broker.TaskQueue} with up to {_doc.MaxTasks} tasks at once");
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

                WriteStatusNow();
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Writes the status as it is when the write begins. One write at a time (the status loop and a worker going busy
    /// may both write), so the file ends with the latest state, not whichever rename came last.
    /// </summary>
    private void WriteStatusNow()
    {
        lock (_statusWrite)
        {
            if (!_statusFinal)
            {
                var status = Status(WorkerPhase.Running);
                if (_status.TryWrite(status))
                {
                    Volatile.Write(ref _writtenRunning, status.Running);
                }
            }
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

        _attempts.Dispose();
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

    private static string Describe(Exception e) => BrokerLink.Describe(e);

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

