using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Mep.Protocol;
using Mep.Protocol.Launcher;
using Mep.Protocol.Messages;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Mep.Endpoint;

/// <summary>
/// The UEP's life: connect with its own broker user, consume its task queue (manual acks, prefetch = workers),
/// run each task, publish the result with confirms, then ack. Heartbeats while alive; stops on idle, on
/// SIGTERM/SIGINT, or on a broker failure it cannot recover from.
/// </summary>
internal sealed class EndpointService : IAsyncDisposable
{
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ConnectRetryDelay = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan MaxPublishBackoff = TimeSpan.FromSeconds(30);

    private readonly UepStartDocument _doc;
    private readonly EndpointSettings _settings;
    private readonly ShellRunner _runner;
    private readonly ProcessIdentity _identity;
    private readonly TaskTracker _tracker = new();
    private readonly string _consumerTag;

    private readonly Lock _gate = new();
    private bool _stopping;
    private int _inFlight;
    private long _lastActivity = Stopwatch.GetTimestamp();
    private long _connectionLostAt; // 0 while connected
    private int _publishFailures;

    private readonly TaskCompletionSource<StopRequest> _stop = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopRequested = new();
    private readonly CancellationTokenSource _abortTasks = new();
    private readonly ConcurrentDictionary<long, Task> _workers = new();
    private long _nextWorker;
    private readonly SemaphoreSlim _settleGate = new(1, 1);

    private IConnection? _connection;
    private IChannel? _taskChannel;
    private IChannel? _eventChannel;
    private EventPublisher? _publisher;

    private sealed record StopRequest(string Reason, int ExitCode, string? Error = null);

    public EndpointService(UepStartDocument doc, EndpointSettings settings, ShellRunner runner, ProcessIdentity identity)
    {
        _doc = doc;
        _settings = settings;
        _runner = runner;
        _identity = identity;
        // Our own tag survives connection recovery (a server-named one may change).
        _consumerTag = $"mep-endpoint-{Environment.ProcessId}-{doc.UepId}";
    }

    private BrokerCredentials Broker => _doc.Broker;

    public async Task<int> RunAsync()
    {
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

        try
        {
            await StartAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stopRequested.IsCancellationRequested)
        {
            // A signal or broker failure during start-up: handled below like any other stop.
        }
        catch (Exception e) when (e is BrokerException or OperationInterruptedException or AlreadyClosedException or PublishException or TimeoutException)
        {
            RequestStop(new StopRequest("broker-failure", ExitCodes.BrokerFailure, e is BrokerException ? e.Message : $"broker: {Describe(e)}"));
        }

        using var loops = new CancellationTokenSource();
        var heartbeat = HeartbeatLoopAsync(loops.Token);
        var watchdog = WatchdogLoopAsync(loops.Token);
        var stop = await _stop.Task.ConfigureAwait(false);
        await loops.CancelAsync().ConfigureAwait(false);
        var exitCode = await ShutdownAsync(stop).ConfigureAwait(false);
        await Task.WhenAll(heartbeat, watchdog).ConfigureAwait(false);
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
        await _taskChannel.BasicQosAsync(0, (ushort)_settings.MaxWorkers, global: false, cancel).ConfigureAwait(false);
        try
        {
            await _taskChannel.BasicConsumeAsync(
                Broker.TaskQueue, autoAck: false, _consumerTag, noLocal: false, exclusive: false, arguments: null,
                new TaskConsumer(_taskChannel, this), cancel).ConfigureAwait(false);
        }
        catch (OperationInterruptedException e)
        {
            throw new BrokerException($"cannot consume task queue {Broker.TaskQueue}: {Describe(e)}");
        }

        lock (_gate)
        {
            _lastActivity = Stopwatch.GetTimestamp();
        }

        Log.Info($"consuming {Broker.TaskQueue} with up to {_settings.MaxWorkers} tasks at once; idle timeout {Format(_settings.IdleTimeout)}");
        try
        {
            await PublishEventAsync(new EndpointEvent(EndpointEventKind.Started, _doc.UepId, DateTimeOffset.UtcNow, Pid: Environment.ProcessId), Guid.NewGuid().ToString(), cancel)
                .ConfigureAwait(false);
        }
        catch (PublishException e)
        {
            throw new BrokerException($"cannot publish to exchange {Broker.EventsExchange} (routing key {Broker.EventsRoutingKey}): {(e.IsReturn ? "unroutable, no queue is bound" : "refused by the broker")}");
        }
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
            ClientProvidedName = $"mep-endpoint uep={_doc.UepId} pid={Environment.ProcessId}",
        };
        var target = $"{Broker.Host}:{Broker.Port} vhost {Broker.VirtualHost} as {Broker.Username}";
        var deadline = Stopwatch.GetTimestamp() + (long)(_settings.BrokerRecoveryDeadline.TotalSeconds * Stopwatch.Frequency);
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
                throw new BrokerException($"broker refused the login {target}: {Describe(e)}");
            }
            catch (BrokerUnreachableException e)
            {
                if (Stopwatch.GetTimestamp() > deadline)
                {
                    throw new BrokerException($"cannot connect to broker {target} within {Format(_settings.BrokerRecoveryDeadline)}: {Describe(e)}");
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
            if (!refuse)
            {
                _inFlight++;
                _lastActivity = Stopwatch.GetTimestamp();
            }
        }

        if (refuse)
        {
            // Stopping: give it straight back so another start of this UEP runs it.
            return SettleAsync([deliveryTag], ack: false);
        }

        // Run outside the consumer's dispatch loop so that up to MaxWorkers tasks run at once.
        var id = Interlocked.Increment(ref _nextWorker);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _workers[id] = done.Task;
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
                lock (_gate)
                {
                    _inFlight--;
                    _lastActivity = Stopwatch.GetTimestamp();
                }

                _workers.TryRemove(id, out _);
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
        Guid taskId;
        Func<CancellationToken, Task<TaskResultMessage>> produce;
        try
        {
            var task = ProtocolJson.Deserialize<TaskMessage>(body);
            taskId = task.TaskId;
            produce = cancel => _runner.RunAsync(task, cancel);
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

            var error = $"invalid task message: {e.Message}";
            produce = _ => Task.FromResult(_runner.Failure(taskId, error));
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
                Log.Info($"task {taskId} started");
                try
                {
                    result = await produce(_abortTasks.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (_abortTasks.IsCancellationRequested)
                {
                    Log.Info($"task {taskId} interrupted by shutdown; returned to the queue");
                    await SettleAsync(_tracker.Release(taskId, null), ack: false).ConfigureAwait(false);
                    return;
                }

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
            // Not acked, so not lost: the result is kept and published again when the task comes back.
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
        var seconds = (result.CompletedAt - result.StartedAt).TotalSeconds;
        Log.Info(string.Create(CultureInfo.InvariantCulture,
            $"task {taskId} {result.State.ToString().ToLowerInvariant()} (return code {result.ReturnCode?.ToString(CultureInfo.InvariantCulture) ?? "none"}, {seconds:0.###} s){(result.Error is null ? "" : ": " + result.Error)}"));
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

    private async Task HeartbeatLoopAsync(CancellationToken cancel)
    {
        using var timer = new PeriodicTimer(_settings.HeartbeatPeriod);
        try
        {
            while (await timer.WaitForNextTickAsync(cancel).ConfigureAwait(false))
            {
                if (_publisher is null || _connection is not { IsOpen: true })
                {
                    continue;
                }

                var beat = new HeartbeatMessage(Environment.ProcessId, _identity.Hostname, _tracker.Running, _tracker.Completed);
                try
                {
                    await PublishEventAsync(
                        new EndpointEvent(EndpointEventKind.Heartbeat, _doc.UepId, DateTimeOffset.UtcNow, Heartbeat: beat, Pid: Environment.ProcessId),
                        Guid.NewGuid().ToString(), cancel).ConfigureAwait(false);
                }
                catch (Exception e) when (e is PublishException or AlreadyClosedException or OperationInterruptedException or TimeoutException
                                          || (e is OperationCanceledException && !cancel.IsCancellationRequested))
                {
                    Log.Warn($"heartbeat not published: {Describe(e)}");
                }
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
        }
    }

    /// <summary>Checks, several times per idle period, for idleness and for a connection that stays lost too long.</summary>
    private async Task WatchdogLoopAsync(CancellationToken cancel)
    {
        var period = TimeSpan.FromTicks(Math.Clamp(_settings.IdleTimeout.Ticks / 4, TimeSpan.TicksPerMillisecond * 50, TimeSpan.TicksPerSecond));
        using var timer = new PeriodicTimer(period);
        try
        {
            while (await timer.WaitForNextTickAsync(cancel).ConfigureAwait(false))
            {
                var lostAt = Interlocked.Read(ref _connectionLostAt);
                if (lostAt != 0 && Stopwatch.GetElapsedTime(lostAt) > _settings.BrokerRecoveryDeadline)
                {
                    RequestStop(new StopRequest("broker-failure", ExitCodes.BrokerFailure,
                        $"connection to broker {Broker.Host}:{Broker.Port} lost and not recovered within {Format(_settings.BrokerRecoveryDeadline)}"));
                    continue;
                }

                bool idle;
                lock (_gate)
                {
                    // Decided and marked under the lock, so a delivery arriving now is refused rather than half-run.
                    idle = !_stopping && _inFlight == 0 && Stopwatch.GetElapsedTime(_lastActivity) >= _settings.IdleTimeout;
                    if (idle)
                    {
                        _stopping = true;
                    }
                }

                if (idle)
                {
                    RequestStop(new StopRequest("idle", ExitCodes.Ok));
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
            Log.Warn($"connection to broker lost ({e.ReplyCode} {e.ReplyText}); recovering for up to {Format(_settings.BrokerRecoveryDeadline)}");
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

        // Kill what still runs; each worker hands its task back to the queue.
        await _abortTasks.CancelAsync().ConfigureAwait(false);
        await Quietly(Task.WhenAll(_workers.Values).WaitAsync(PublishTimeout + PublishTimeout)).ConfigureAwait(false);

        if (_publisher is not null && _connection is { IsOpen: true })
        {
            var message = new EndpointEvent(EndpointEventKind.Stopping, _doc.UepId, DateTimeOffset.UtcNow, Reason: stop.Error ?? stop.Reason, Pid: Environment.ProcessId);
            await Quietly(PublishEventAsync(message, Guid.NewGuid().ToString(), CancellationToken.None)).ConfigureAwait(false);
        }

        if (_connection is not null)
        {
            await Quietly(_connection.CloseAsync(CloseTimeout)).ConfigureAwait(false);
        }

        if (stop.Error is not null)
        {
            // Last line on stderr: the launcher's tail shows it as the reason this UEP failed.
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
    }
}

/// <summary>A broker failure with a message fit for the last line of stderr.</summary>
internal sealed class BrokerException(string message) : Exception(message);
