using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Mep.Endpoint.Providers;
using Mep.Endpoint.Worker;
using Mep.Protocol;
using Mep.Protocol.Launcher;
using Mep.Protocol.Messages;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Mep.Endpoint.Manager;

/// <summary>
/// The UEP process: it does not run tasks itself. It prepares the UEP directory and the worker document, runs
/// endpoint_setup, keeps blocks of workers (through the provider) in step with its queue, reports heartbeats, and stops
/// when idle or told to: blocks cancelled, endpoint_teardown run, a Stopping event sent. When workers cannot be had
/// (the scheduler refuses the job, endpoint_setup failed, workers die before they start) it fails the waiting tasks
/// with that reason instead of leaving them to wait.
/// </summary>
internal sealed partial class EndpointManager : IAsyncDisposable
{
    private static readonly TimeSpan ControlPeriod = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan AliveTouchPeriod = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ManagerTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan SubmitRetryDelay = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan MaxBlockIdleTime = TimeSpan.FromMinutes(2);

    // How long a running block may take for its first worker to report before it counts as idle like any other
    // (a worker_init that hangs must not keep the UEP alive forever).
    private static readonly TimeSpan WorkerStartGrace = TimeSpan.FromMinutes(2);
    private const int MaxEarlyBlockExits = 3;
    private const int MaxFailedPerRound = 1000;

    private readonly UepStartDocument _doc;
    private readonly EndpointSettings _settings;
    private readonly ProcessIdentity _identity;
    private readonly UepDirectory _dir;
    private readonly IWorkerProvider _provider;
    private readonly (string Program, IReadOnlyList<string> Prefix) _worker;
    private readonly BrokerLink _broker;

    private readonly Dictionary<string, BlockRecord> _blocks = [];
    private int _nextBlock;
    private string? _setupFailure;
    private (string Reason, long At)? _submitFailure;
    private int _earlyExits;
    private long _lastActivity = Stopwatch.GetTimestamp();
    private DateTimeOffset _lastDemand;
    private long _lastProgress = Stopwatch.GetTimestamp();
    private (int Ready, int Running, long Completed) _lastSeen;
    private long _lastAliveTouch;
    private (int Running, long Completed) _workload;

    private readonly TaskCompletionSource<StopRequest> _stop = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopRequested = new();
    private static readonly TimeSpan ConnectGraceOnStop = TimeSpan.FromSeconds(5);

    private sealed record StopRequest(string Reason, int ExitCode, string? Error = null);

    private sealed class BlockRecord(string id, DateTimeOffset submittedAt)
    {
        public string Id { get; } = id;
        public string? JobId { get; set; }
        public BlockState State { get; set; } = BlockState.Pending;
        public DateTimeOffset SubmittedAt { get; } = submittedAt;
        public bool WorkerSeen { get; set; }
    }

    public EndpointManager(UepStartDocument doc, EndpointSettings settings, ProcessIdentity identity, UepDirectory dir,
        IWorkerProvider provider, (string Program, IReadOnlyList<string> Prefix) worker)
    {
        _doc = doc;
        _settings = settings;
        _identity = identity;
        _dir = dir;
        _provider = provider;
        _worker = worker;
        _broker = new BrokerLink(doc, settings.BrokerRecoveryDeadline, reason => RequestStop(new StopRequest("broker-failure", ExitCodes.BrokerFailure, reason)));
    }

    private ProviderConfigView Blocks => new(_settings.Config.Engine.Provider);

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
        catch (Exception e) when (BrokerLink.IsBrokerFailure(e))
        {
            RequestStop(new StopRequest("broker-failure", ExitCodes.BrokerFailure, e is BrokerException ? e.Message : $"broker: {BrokerLink.Describe(e)}"));
        }

        using var loops = new CancellationTokenSource();
        var heartbeat = HeartbeatLoopAsync(loops.Token);
        var control = ControlLoopAsync(loops.Token);
        var stop = await _stop.Task.ConfigureAwait(false);
        await loops.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(heartbeat, control).ConfigureAwait(false);
        return await ShutdownAsync(stop).ConfigureAwait(false);
    }

    private async Task StartAsync()
    {
        var cancel = _stopRequested.Token;
        // The workers connect on their own (the worker document carries the broker credentials), so they start while
        // this process connects: a cold start then waits for the slower of the two, not for both in a row. A login
        // the broker refuses still stops the UEP, and the shutdown cancels the blocks already submitted.
        var connecting = Stopwatch.GetTimestamp();
        // A stop lets a connect in flight finish (well under a second), so that the Stopping event reaches the silo:
        // cancelled mid-handshake, the client library can hold on for its 20 s continuation timeout. One that hangs
        // is given up ConnectGraceOnStop after the stop.
        using var connectCancel = new CancellationTokenSource();
        using var onStop = cancel.Register(() => connectCancel.CancelAfter(ConnectGraceOnStop));
        var connect = ConnectAsync(connectCancel.Token);
        try
        {
            _dir.Prepare();
            Log.CopyTo(_dir.LogPath);
            var workerDoc = new WorkerDocument(
                _doc.UepId, _doc.Broker, _settings.MaxWorkers, _doc.Limits, _settings.AllowedFunctions, _dir.Path,
                Math.Min(_settings.HeartbeatPeriod.TotalSeconds, 10), ManagerTimeout.TotalSeconds, _settings.WorkerPrefetch);
            AtomicFile.Write(_dir.WorkerDocumentPath, ProtocolJson.SerializeToUtf8(workerDoc, EndpointJson.Files.WorkerDocument));
            TouchAlive(force: true);

            if (_settings.Config.EndpointSetup is { Length: > 0 } setup)
            {
                Log.Info("running endpoint_setup");
                _setupFailure = await EndpointScript.RunAsync("endpoint_setup", setup, ScriptTimeout, cancel).ConfigureAwait(false);
                if (_setupFailure is not null)
                {
                    Log.Warn($"{_setupFailure}; tasks sent to this user endpoint fail with that reason until it stops");
                }
            }

            Log.Info($"workers from the {_provider.Name} provider: {_settings.MaxWorkers} tasks per worker, {_provider.WorkersPerBlock} worker(s) per block, blocks init {Blocks.Init} min {Blocks.Min} max {Blocks.Max}; idle timeout {Format(_settings.IdleTimeout)}");
            if (_setupFailure is null)
            {
                for (var i = 0; i < Blocks.Init; i++)
                {
                    if (!await SubmitBlockAsync(cancel).ConfigureAwait(false))
                    {
                        break;
                    }
                }
            }
        }
        finally
        {
            // Never leave the connect unobserved, whatever failed here first.
            await connect.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        await connect.ConfigureAwait(false);
        var connected = Stopwatch.GetTimestamp();
        // The two durations let a cold start be split (mep-bench): Main → connect start, and the broker connect itself.
        Log.Info(string.Create(CultureInfo.InvariantCulture,
            $"user endpoint {_doc.UepId} of endpoint {_doc.EndpointId}, pid {Environment.ProcessId} on {_identity.Hostname}; " +
            $"main {Stopwatch.GetElapsedTime(Program.MainEntered, connected).TotalMilliseconds:F0} ms ago, " +
            $"broker connect {Stopwatch.GetElapsedTime(connecting, connected).TotalMilliseconds:F0} ms"));
        await _broker.PublishAsync(new EndpointEvent(EndpointEventKind.Started, _doc.UepId, DateTimeOffset.UtcNow, Pid: Environment.ProcessId, TakesTaskBundles: true), cancel)
            .ConfigureAwait(false);
    }

    /// <summary>Connects, and fails now, with the broker's reason, if this UEP cannot read its own queue.</summary>
    private async Task ConnectAsync(CancellationToken cancel)
    {
        await _broker.ConnectAsync(cancel).ConfigureAwait(false);
        await _broker.ReadyCountAsync(cancel).ConfigureAwait(false);
    }

    /// <summary>
    /// One round every <see cref="ControlPeriod"/>: block states, worker reports and queue depth in; blocks submitted or
    /// cancelled, waiting tasks failed when no worker can come, idleness decided out.
    /// </summary>
    private async Task ControlLoopAsync(CancellationToken cancel)
    {
        using var timer = new PeriodicTimer(ControlPeriod);
        try
        {
            while (await timer.WaitForNextTickAsync(cancel).ConfigureAwait(false))
            {
                try
                {
                    await ControlRoundAsync(cancel).ConfigureAwait(false);
                }
                catch (Exception e) when (BrokerLink.IsBrokerFailure(e) && !cancel.IsCancellationRequested)
                {
                    // The connection recovers on its own (or the broker deadline stops us): try again next round.
                    Log.Warn($"control round skipped: {BrokerLink.Describe(e)}");
                }
                catch (Exception e) when (e is ProviderException)
                {
                    Log.Warn($"{_provider.Name} provider: {e.Message}");
                }
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
        }
    }

    private async Task ControlRoundAsync(CancellationToken cancel)
    {
        TouchAlive(force: false);
        var now = DateTimeOffset.UtcNow;
        await PollBlocksAsync(cancel).ConfigureAwait(false);
        var ready = (int)Math.Min(int.MaxValue, await _broker.ReadyCountAsync(cancel).ConfigureAwait(false));
        var views = ViewBlocks(now);
        var running = views.Sum(v => v.Running);
        if (ready > 0)
        {
            _lastDemand = now;
        }

        if (ready > 0 || running > 0 || views.Any(v => v.Starting))
        {
            Interlocked.Exchange(ref _lastActivity, Stopwatch.GetTimestamp());
        }

        // Progress: a task arrived, started or ended. Tasks that run (or wait) without any of that are stuck.
        var seen = (ready, running, _workload.Completed);
        if (seen != _lastSeen)
        {
            _lastSeen = seen;
            _lastProgress = Stopwatch.GetTimestamp();
        }

        if (WhyNoWorkers() is { } reason)
        {
            if (ready > 0)
            {
                await FailWaitingTasksAsync(reason, cancel).ConfigureAwait(false);
            }
        }
        else
        {
            var decision = BlockScaler.Decide(new ScalerInput(
                ready, views, _provider.WorkersPerBlock * _settings.MaxWorkers, Blocks.Min, Blocks.Max, BlockIdleTime, now, _lastDemand));
            for (var i = 0; i < decision.Submit; i++)
            {
                if (!await SubmitBlockAsync(cancel).ConfigureAwait(false))
                {
                    break;
                }
            }

            if (decision.Cancel.Count > 0)
            {
                Log.Info($"giving back idle block(s) {string.Join(", ", decision.Cancel)}");
                await _provider.CancelAsync(decision.Cancel, cancel).ConfigureAwait(false);
            }
        }

        if (Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastActivity)) >= _settings.IdleTimeout)
        {
            RequestStop(new StopRequest("idle", ExitCodes.Ok));
        }
        else if (Stopwatch.GetElapsedTime(_lastProgress) >= _settings.HardIdleTimeout)
        {
            Log.Warn($"no task arrived, started or ended for {Format(_settings.HardIdleTimeout)} although {ready} wait and {running} run: stopping (idle_heartbeats_hard)");
            RequestStop(new StopRequest("idle-hard", ExitCodes.Ok));
        }
    }

    /// <summary>Why waiting tasks cannot get a worker now, if they cannot; null while workers can still come.</summary>
    private string? WhyNoWorkers()
    {
        if (_setupFailure is not null)
        {
            return _setupFailure;
        }

        if (_submitFailure is { } f)
        {
            if (Stopwatch.GetElapsedTime(f.At) < SubmitRetryDelay)
            {
                return _blocks.Values.Any(b => b.State != BlockState.Ended) ? null : f.Reason;
            }

            _submitFailure = null;
            _earlyExits = 0;
        }

        return null;
    }

    private async Task<bool> SubmitBlockAsync(CancellationToken cancel)
    {
        var id = string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessId}-{++_nextBlock}");
        var launch = new WorkerLaunch(
            id, _worker.Program, [.. _worker.Prefix, "worker", "--document", _dir.WorkerDocumentPath, "--block", id],
            _settings.Config.Engine.Provider?.WorkerInit, Path.Combine(_dir.BlocksPath, id));
        try
        {
            var info = await _provider.SubmitAsync(launch, cancel).ConfigureAwait(false);
            _blocks[id] = new BlockRecord(id, DateTimeOffset.UtcNow) { JobId = info.JobId, State = info.State };
            Log.Info($"block {id} submitted{(info.JobId is null ? "" : $" as job {info.JobId}")}");
            return true;
        }
        catch (ProviderException e)
        {
            var reason = $"the {_provider.Name} provider could not start workers: {e.Message}";
            Log.Warn(reason);
            _submitFailure = (reason, Stopwatch.GetTimestamp());
            return false;
        }
    }

    private async Task PollBlocksAsync(CancellationToken cancel)
    {
        foreach (var info in await _provider.PollAsync(cancel).ConfigureAwait(false))
        {
            if (!_blocks.TryGetValue(info.BlockId, out var block) || block.State == BlockState.Ended)
            {
                continue;
            }

            block.JobId ??= info.JobId;
            block.State = info.State;
            if (info.State != BlockState.Ended)
            {
                continue;
            }

            Log.Info($"block {block.Id} ended{(info.Reason is null ? "" : $": {info.Reason}")}");
            if (info.Reason is not null && !block.WorkerSeen && ++_earlyExits >= MaxEarlyBlockExits && _submitFailure is null)
            {
                var reason = $"workers exited before they started, {_earlyExits} times; last: {info.Reason}{LogTail(block.Id)}";
                Log.Warn(reason);
                _submitFailure = (reason, Stopwatch.GetTimestamp());
            }
        }

        // Forget ended blocks after a while, so that a UEP living for weeks keeps a bounded table.
        foreach (var ended in _blocks.Values.Where(b => b.State == BlockState.Ended).OrderBy(b => b.SubmittedAt).SkipLast(16).ToList())
        {
            _blocks.Remove(ended.Id);
        }
    }

    /// <summary>The blocks with what their workers report; a report not refreshed in time is a dead worker's.</summary>
    private List<BlockView> ViewBlocks(DateTimeOffset now)
    {
        var staleAfter = TimeSpan.FromSeconds(3 * Math.Min(_settings.HeartbeatPeriod.TotalSeconds, 10) + 10);
        var statuses = WorkerStatusReader.Read(_dir);
        var views = new List<BlockView>();
        var running = 0;
        long completed = 0;
        foreach (var block in _blocks.Values)
        {
            var workers = statuses.Where(s => s.BlockId == block.Id).ToList();
            if (workers.Count > 0)
            {
                block.WorkerSeen = true;
                _earlyExits = 0;
            }

            completed += workers.Sum(w => w.Completed);
            if (block.State == BlockState.Ended)
            {
                continue;
            }

            var live = workers.Where(w => w.Phase == WorkerPhase.Running && now - w.UpdatedAt < staleAfter).ToList();
            var blockRunning = live.Sum(w => w.Running);
            running += blockRunning;
            var lastActive = workers.Select(w => w.LastTaskAt ?? w.UpdatedAt).Append(block.SubmittedAt).Max();
            var starting = block.State == BlockState.Running && !block.WorkerSeen && now - block.SubmittedAt < WorkerStartGrace;
            views.Add(new BlockView(block.Id, block.State, blockRunning, lastActive, starting));
        }

        _workload = (running, completed);
        return views;
    }

    private TimeSpan BlockIdleTime => TimeSpan.FromTicks(Math.Min(MaxBlockIdleTime.Ticks, _settings.IdleTimeout.Ticks / 2));

    /// <summary>
    /// Takes the waiting tasks off the queue and fails each with <paramref name="reason"/>: result first, then ack,
    /// as a worker would. Tasks workers already hold are theirs.
    /// </summary>
    private async Task FailWaitingTasksAsync(string reason, CancellationToken cancel)
    {
        var failed = 0;
        while (failed < MaxFailedPerRound && await _broker.TakeAsync(cancel).ConfigureAwait(false) is { } delivery)
        {
            var taskId = TaskIdOf(delivery.Body, delivery.MessageId);
            if (taskId is null)
            {
                Log.Warn("rejected a delivery that is neither a task message nor carries a task id");
                await _broker.SettleAsync(delivery.Tag, ack: false, requeue: false).ConfigureAwait(false);
                continue;
            }

            var now = DateTimeOffset.UtcNow;
            var result = new TaskResultMessage(taskId.Value, TaskState.Failed, null, "", "", false, reason, now, now,
                _identity.Hostname, _identity.Uid, _identity.Username);
            try
            {
                await _broker.PublishAsync(new EndpointEvent(EndpointEventKind.Result, _doc.UepId, now, Result: result, Pid: Environment.ProcessId), cancel, taskId.Value.ToString())
                    .ConfigureAwait(false);
            }
            catch (Exception e) when (BrokerLink.IsBrokerFailure(e))
            {
                await _broker.SettleAsync(delivery.Tag, ack: false, requeue: true).ConfigureAwait(false);
                throw;
            }

            await _broker.SettleAsync(delivery.Tag, ack: true, requeue: false).ConfigureAwait(false);
            failed++;
        }

        if (failed > 0)
        {
            Log.Info($"failed {failed} waiting task(s): {reason}");
        }
    }

    private static Guid? TaskIdOf(byte[] body, string? messageId)
    {
        try
        {
            return ProtocolJson.Deserialize(body, ProtocolJsonContext.Default.TaskMessage).TaskId;
        }
        catch (System.Text.Json.JsonException)
        {
            return Guid.TryParse(messageId, out var id) ? id : null;
        }
    }

    /// <summary>The last lines a block's workers wrote to stderr, so a user sees why worker_init or the worker failed.</summary>
    private string LogTail(string blockId)
    {
        try
        {
            var dir = Path.Combine(_dir.BlocksPath, blockId);
            var lines = Directory.EnumerateFiles(dir, "*.err")
                .SelectMany(f => File.ReadLines(f).TakeLast(5))
                .Where(l => l.Length > 0)
                .TakeLast(5)
                .ToList();
            return lines.Count == 0 ? "" : " (stderr: " + string.Join(" | ", lines) + ")";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    private async Task HeartbeatLoopAsync(CancellationToken cancel)
    {
        using var timer = new PeriodicTimer(_settings.HeartbeatPeriod);
        try
        {
            while (await timer.WaitForNextTickAsync(cancel).ConfigureAwait(false))
            {
                var (running, completed) = _workload;
                var beat = new HeartbeatMessage(Environment.ProcessId, _identity.Hostname, running, (int)Math.Min(int.MaxValue, completed));
                try
                {
                    await _broker.PublishAsync(
                        new EndpointEvent(EndpointEventKind.Heartbeat, _doc.UepId, DateTimeOffset.UtcNow, Heartbeat: beat, Pid: Environment.ProcessId),
                        cancel).ConfigureAwait(false);
                }
                catch (Exception e) when ((BrokerLink.IsBrokerFailure(e) || e is OperationCanceledException) && !cancel.IsCancellationRequested)
                {
                    Log.Warn($"heartbeat not published: {BrokerLink.Describe(e)}");
                }
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
        }
    }

    private void TouchAlive(bool force)
    {
        var now = Stopwatch.GetTimestamp();
        if (!force && Stopwatch.GetElapsedTime(_lastAliveTouch, now) < AliveTouchPeriod)
        {
            return;
        }

        try
        {
            _dir.TouchAlive();
            _lastAliveTouch = now;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warn($"cannot refresh {_dir.ManagerAlivePath}: {e.Message}");
        }
    }

    private void OnSignal(PosixSignalContext context)
    {
        // Handle it ourselves: blocks must be cancelled and the teardown run before we go.
        context.Cancel = true;
        Log.Info($"received {context.Signal}; stopping");
        RequestStop(new StopRequest("signal", ExitCodes.Ok));
    }

    private void RequestStop(StopRequest request)
    {
        if (_stop.TrySetResult(request))
        {
            _stopRequested.Cancel();
        }
    }

    private async Task<int> ShutdownAsync(StopRequest stop)
    {
        Log.Info($"stopping ({stop.Reason})");
        var live = _blocks.Values.Where(b => b.State != BlockState.Ended).Select(b => b.Id).ToList();
        if (live.Count > 0)
        {
            Log.Info($"cancelling block(s) {string.Join(", ", live)}");
            await Quietly(_provider.CancelAsync(live, CancellationToken.None)).ConfigureAwait(false);
        }

        if (stop.Reason == "idle")
        {
            // Nothing ran or waited for the idle timeout, so the records of workers that died running a task are moot
            // (that task has ended since). Any other stop may leave tasks to the next process, with their counts.
            Worker.AttemptStore.RemoveAll(_dir.AttemptsPath);
        }

        if (_settings.Config.EndpointTeardown is { Length: > 0 } teardown)
        {
            Log.Info("running endpoint_teardown");
            if (await EndpointScript.RunAsync("endpoint_teardown", teardown, ScriptTimeout, CancellationToken.None).ConfigureAwait(false) is { } failure)
            {
                Log.Warn(failure);
            }
        }

        var message = new EndpointEvent(EndpointEventKind.Stopping, _doc.UepId, DateTimeOffset.UtcNow, Reason: stop.Error ?? stop.Reason, Pid: Environment.ProcessId);
        await Quietly(_broker.PublishIfConnectedAsync(message)).ConfigureAwait(false);
        await Quietly(_broker.CloseAsync()).ConfigureAwait(false);
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
            Log.Warn($"during shutdown: {BrokerLink.Describe(e)}");
        }
    }

    private static string Format(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.###} s");

    public async ValueTask DisposeAsync()
    {
        await _provider.DisposeAsync().ConfigureAwait(false);
        await _broker.DisposeAsync().ConfigureAwait(false);
        _stopRequested.Dispose();
    }

    /// <summary>Block counts with the defaults of Globus Compute's providers (init 1, min 0, max 1).</summary>
    private readonly record struct ProviderConfigView(Mep.Protocol.Config.ProviderConfig? Config)
    {
        public int Init => Config?.InitBlocks ?? 1;

        public int Min => Config?.MinBlocks ?? 0;

        public int Max => Config?.MaxBlocks ?? 1;
    }
}
