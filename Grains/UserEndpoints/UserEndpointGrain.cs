using Mep.Grains.Audit;
using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains.Endpoints;
using Mep.Grains.Nodes;
using Mep.Grains.Tasks;
using Mep.Protocol;
using Mep.Protocol.Launcher;
using Mep.Protocol.Messages;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using System.Text.Json.Nodes;
using Orleans.Streams.Core;

namespace Mep.Grains.UserEndpoints;

/// <summary>
/// Owns one user endpoint: its durable task queue and the lifecycle of its process
/// (stopped → starting → running → stopping → stopped, or failed with a reason).
/// Dispatch (start the process, publish tasks) runs from a non-interleaving grain timer, after the call that made
/// work durable has answered, so the API never waits on the launcher or the broker.
/// </summary>
[ImplicitStreamSubscription(BrokerNames.EventStreamNamespace)]
public sealed partial class UserEndpointGrain : Grain, IUserEndpointGrain, IStreamSubscriptionObserver, IRemindable
{
    /// <summary>A process that ran this long before crashing was not crash-looping: the next failure counts from one.</summary>
    private static readonly TimeSpan StableRun = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    private readonly IPersistentState<UserEndpointState> _state;
    private readonly EndpointCatalog _catalog;
    private readonly IUserEndpointBroker _broker;
    private readonly NodeChooser _nodes;
    private readonly string _localNode;
    private readonly MepOptions _options;
    private readonly Broker.BrokerOptions _brokerOptions;
    private readonly IAuditLog _audit;
    private readonly StartGate _gate;
    private readonly TaskStore _tasks;
    private readonly ILogger<UserEndpointGrain> _logger;
    private IGrainTimer? _dispatchTimer;
    private TimeSpan _retryDelay = TimeSpan.FromSeconds(1);
    private DateTimeOffset? _lastHeartbeat;
    private bool _reconciled;

    // Changes to the state not yet written (when the last task arrived or ended, a reason): they go out with the next
    // write, or at deactivation. The queue's own changes are marked on each task (PendingTask.Unsaved).
    private bool _dirty;

    /// <summary>The durable task queue: every accepted task whose end is not yet recorded, in arrival order; kept in the
    /// task store and loaded from it when the grain activates.</summary>
    private List<PendingTask> Pending { get; set; } = [];

    // Ends reported by the events of the batch being handled, recorded together (see RecordStagedEndsAsync).
    private readonly Dictionary<Guid, (PendingTask Pending, TaskEnd End)> _staged = [];

    public UserEndpointGrain(
        [PersistentState("user-endpoint", StorageNames.Mep)] IPersistentState<UserEndpointState> state,
        EndpointCatalog catalog,
        IUserEndpointBroker broker,
        NodeChooser nodes,
        ILocalSiloDetails silo,
        IOptions<MepOptions> options,
        IOptions<Broker.BrokerOptions> brokerOptions,
        IAuditLog audit,
        StartGate gate,
        TaskStore tasks,
        ILogger<UserEndpointGrain> logger)
    {
        _gate = gate;
        _tasks = tasks;
        _state = state;
        _catalog = catalog;
        _broker = broker;
        _nodes = nodes;
        _localNode = silo.Name;
        _options = options.Value;
        _brokerOptions = brokerOptions.Value;
        _audit = audit;
        _logger = logger;
    }

    private string UepId => this.GetPrimaryKeyString();

    private UserEndpointState S => _state.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        Pending = await _tasks.ReadQueueAsync(UepId);
        if (S.Pending.Count > 0)
        {
            await MoveQueueToTaskStoreAsync();
        }

        // Interleave = false: a dispatch round never overlaps a call, so state changes stay linear.
        _dispatchTimer = this.RegisterGrainTimer(
            DispatchAsync,
            new GrainTimerCreationOptions(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan) { Interleave = false, KeepAlive = false });

        // After a silo restart the recorded phase may be stale and tasks may be waiting: check soon.
        if (Pending.Count > 0 || S.Phase is UserEndpointPhase.Starting or UserEndpointPhase.Running or UserEndpointPhase.Stopping)
        {
            ScheduleDispatch(TimeSpan.Zero);
        }

        ArmKillAfterGrace();
    }

    /// <summary>A state written by an earlier MEP holds its queue: the tasks move to the task store (their records too:
    /// reads look there), then the state is written without them.</summary>
    private async Task MoveQueueToTaskStoreAsync()
    {
        var known = Pending.Select(p => p.Task.TaskId).ToHashSet();
        var moved = S.Pending.Where(p => !known.Contains(p.Task.TaskId)).ToList();
        if (S.Spec is { } spec)
        {
            await _tasks.AddAsync(UepId, spec, moved);
            Pending = [.. moved, .. Pending];
        }

        _logger.LogInformation("User endpoint {UepId}: moved {Count} queued tasks from its state to the task store", UepId, moved.Count);
        S.Pending = [];
        await _state.WriteStateAsync();
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _gate.Leave(UepId);
        if (_dirty)
        {
            await SaveAsync();
        }
        else
        {
            await SaveProgressAsync();
        }
    }

    public async Task Enqueue(UserEndpointSpec spec, IReadOnlyList<QueuedTask> tasks)
    {
        if (S.Spec is not null
            && (!string.Equals(S.Spec.IdentityId, spec.IdentityId, StringComparison.OrdinalIgnoreCase)
                || !string.Equals(S.Spec.EndpointId, spec.EndpointId, StringComparison.OrdinalIgnoreCase)))
        {
            // Cannot happen unless the id derivation is broken; refuse rather than mix two users' work.
            throw new InvalidOperationException($"user endpoint {UepId} belongs to another identity or endpoint");
        }

        // A live process keeps the config it started with; the next start uses the config as rendered now (the
        // admin may have changed the template or the mapping since: the UEP id covers only the user's options).
        var changed = false;
        if (S.Spec is null || (S.Phase is UserEndpointPhase.Stopped or UserEndpointPhase.Failed && S.Spec != spec))
        {
            S.Spec = spec;
            changed = true;
        }

        // New work is what a stopped UEP waits for to start again (with the tasks it kept, if any).
        changed |= S.Held;
        S.Held = false;
        if (S.Phase == UserEndpointPhase.Failed && (S.FailedStarts != 0 || S.NextAttemptAt is not null))
        {
            // New work is a new attempt: the owner has seen the failure on the tasks it failed.
            S.FailedStarts = 0;
            S.NextAttemptAt = null;
            changed = true;
        }

        var now = DateTimeOffset.UtcNow;
        S.LastTaskAt = now;
        if (changed)
        {
            // The state first: queued tasks are only dispatched by a state that has their spec.
            await SaveAsync();
        }
        else
        {
            _dirty = true;
        }

        var known = Pending.Select(p => p.Task.TaskId).ToHashSet();
        var added = new List<PendingTask>(tasks.Count);
        foreach (var task in tasks.Where(t => known.Add(t.TaskId)))
        {
            var pending = new PendingTask { Task = task };
            pending.Enter(TaskProgressState.Received, task.SubmittedAt);
            pending.Enter(TaskProgressState.WaitingForEndpoint, now);
            pending.Unsaved = false;
            added.Add(pending);
        }

        // The durable acceptance: the API answers once this returns.
        await _tasks.AddAsync(UepId, S.Spec!, added);
        Pending.AddRange(added);
        if (!S.Watchdog)
        {
            await SaveAsync();
        }

        await AuditTasksReceivedAsync(added.Select(p => p.Task)); // audit trail (UserEndpointGrain.Audit.cs)
        ScheduleDispatch(TimeSpan.Zero);
    }

    public async Task OnResult(Guid taskId, TaskOutcome outcome)
    {
        StageEnd(taskId, outcome);
        await RecordStagedEndsAsync();
    }

    /// <summary>
    /// Takes a reported end into the batch of ends to record (<see cref="RecordStagedEndsAsync"/>); a task that is not
    /// pending here, or already staged, is ignored (a redelivery, or not this UEP's task).
    /// </summary>
    private void StageEnd(Guid taskId, TaskOutcome outcome)
    {
        var pending = Pending.Find(p => p.Task.TaskId == taskId);
        if (pending is null || _staged.ContainsKey(taskId))
        {
            _logger.LogDebug("Ignoring result for task {TaskId} not pending on {UepId}", taskId, UepId);
            return;
        }

        var end = outcome.State == TaskOutcomeState.Success ? TaskProgressState.Success : TaskProgressState.Failed;
        var history = pending.HistoryEndingIn(end, outcome.CompletedAt);
        var record = S.Spec is { } spec
            ? TaskStore.Record(UepId, spec, pending.Task) with { Outcome = outcome, History = history }
            : null;
        _staged[taskId] = (pending, new TaskEnd(taskId, outcome, history, record));
    }

    /// <summary>
    /// Records the staged ends in one write and only then lets the tasks go: the events that reported them are
    /// delivered (and acked to the broker) once this returns, so a failed write leaves the tasks pending here and the
    /// events are delivered again.
    /// </summary>
    private async Task RecordStagedEndsAsync()
    {
        if (_staged.Count == 0)
        {
            return;
        }

        var staged = _staged.Values.ToList();
        try
        {
            await _tasks.CompleteAsync(staged.Select(s => s.End).ToList());
        }
        finally
        {
            _staged.Clear();
        }

        foreach (var (pending, end) in staged)
        {
            Pending.Remove(pending);
            var outcome = end.Outcome;
            S.LastTaskAt = outcome.CompletedAt;
            Telemetry.MepMetrics.Completed(S.Spec?.EndpointId ?? "", outcome.State == TaskOutcomeState.Success, outcome.CompletedAt - pending.Task.SubmittedAt);
        }

        _dirty = true;

        // A lifecycle change is written now; results alone change nothing the state must keep at once.
        if (S.Phase == UserEndpointPhase.Starting || S.FailedStarts != 0)
        {
            if (S.Phase == UserEndpointPhase.Starting)
            {
                S.Phase = UserEndpointPhase.Running;
                _gate.Leave(UepId);
            }

            S.FailedStarts = 0;
            await SaveAsync();
        }

        await AuditTasksEndedAsync(staged.Select(s => (s.Pending, s.End.Outcome))); // audit trail
    }

    public async Task OnSignal(UserEndpointSignal signal)
    {
        if (signal.Pid is { } pid && S.Pid is { } current && pid != current)
        {
            // An earlier process of this UEP, whose events were still in the stream when it died.
            _logger.LogDebug("Ignoring {Signal} of process {Pid} of {UepId}: the current process is {Current}", signal.Kind, pid, UepId, current);
            return;
        }

        _lastHeartbeat = signal.At;
        if (signal.Kind != UserEndpointSignalKind.Stopping && await StopIfAccountGoneAsync())
        {
            return;
        }

        var before = S.Phase;
        switch (signal.Kind)
        {
            case UserEndpointSignalKind.Started:
            case UserEndpointSignalKind.Heartbeat:
                if (S.Phase is UserEndpointPhase.Starting or UserEndpointPhase.Stopped or UserEndpointPhase.Failed)
                {
                    S.Phase = UserEndpointPhase.Running;
                    S.Reason = null;
                    S.Pid ??= signal.Pid;
                }

                break;
            // Only a live process can be stopping: after a restart the stream may still hold a dead one's farewell,
            // and taking it for news would leave the UEP waiting for an exit that never comes.
            case UserEndpointSignalKind.Stopping when S.Phase is UserEndpointPhase.Starting or UserEndpointPhase.Running:
                S.Phase = UserEndpointPhase.Stopping;
                // A stop asked for through the API names who asked; the process's own word ("signal") adds nothing.
                S.Reason = S.StopRequest is null ? signal.Reason : S.Reason;
                break;
        }

        if (S.Phase != before)
        {
            _logger.LogInformation("User endpoint {UepId}: {Before} -> {After} ({Signal})", UepId, before, S.Phase, signal.Kind);
            if (S.Phase == UserEndpointPhase.Running)
            {
                _gate.Leave(UepId);
                // A process this grain had lost track of (or did not start) is up: its queue is served again, and
                // tasks not yet handed over can go now instead of at the next retry.
                ReachedByProcess(signal.At);
                if (Pending.Any(p => !p.Published))
                {
                    ScheduleDispatch(TimeSpan.Zero);
                }
            }

            await SaveAsync();
        }
    }

    public async Task OnProcessExited(ProcessExit exit)
    {
        if (S.Pid != exit.Pid || (exit.Node is { } node && node != ProcessNode()))
        {
            // An older process of this UEP, or one this grain never started (another silo's, sharing the launcher).
            _logger.LogDebug("Ignoring exit of process {Pid} of {UepId}: not the one recorded", exit.Pid, UepId);
            return;
        }

        if (exit.StoppedByLauncher is { } reason && S.StopRequest is null)
        {
            // A deletion reads the same whether the launcher's sweep or this grain's own check noticed it first.
            await HandleRevokedAsync(exit.ExitCode, S.Spec is { } spec && AccountGone(spec) is { } gone ? gone : $"the launcher stopped the user endpoint: {reason}");
            return;
        }

        await HandleExitAsync(exit.ExitCode, exit.StderrTail);
    }

    public async Task Reconcile()
    {
        await ReconcileWithLauncherAsync();
        if (Pending.Count > 0)
        {
            ScheduleDispatch(TimeSpan.Zero);
        }
    }

    public Task<UserEndpointSnapshot> GetSnapshot() =>
        Task.FromResult(new UserEndpointSnapshot(UepId, S.Phase, S.Reason, Pending.Count, S.Spec, _lastHeartbeat, S.Pid, S.NextAttemptAt, S.FailedStarts, S.Node, S.ProcessStartedAt, S.LastTaskAt));

    private async Task DispatchAsync(CancellationToken ct)
    {
        if (S.Spec is not { } spec)
        {
            return;
        }

        try
        {
            if (!_reconciled)
            {
                await Step("reconcile with the launcher", ReconcileWithLauncherAsync());
            }

            if (Pending.Count == 0 || S.Held)
            {
                return;
            }

            if (S.Phase is UserEndpointPhase.Stopped or UserEndpointPhase.Failed)
            {
                if (S.NextAttemptAt is { } next && next > DateTimeOffset.UtcNow)
                {
                    // Backing off after a failed start; new work (which schedules a round at once) waits too.
                    ScheduleDispatch(next - DateTimeOffset.UtcNow);
                    return;
                }

                if (!await Step("start the process", StartProcessAsync(spec)))
                {
                    return;
                }
            }

            if (await Step("check the account", StopIfAccountGoneAsync()))
            {
                return;
            }

            var unpublished = await Step("build task messages", BuildMessagesAsync(Pending.Where(p => !p.Published).ToList()));
            if (unpublished.Count > 0)
            {
                // Stamped when handed to the broker, not when it confirmed: a worker may take the task (and report on
                // it) before the confirmation is back, and the timeline must not show it queued after it started.
                var handedOver = DateTimeOffset.UtcNow;
                await PublishOrRepairAsync(unpublished.Select(u => u.Message).ToList());
                foreach (var (pending, _) in unpublished)
                {
                    pending.Published = true;
                    pending.Unsaved = true;
                    pending.Enter(TaskProgressState.WaitingForNodes, handedOver);
                }

                await Step("save progress", SaveProgressAsync());
            }

            _retryDelay = TimeSpan.FromSeconds(1);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // The launcher or broker is unreachable: nothing is lost (the tasks are durable here), so try again later.
            S.Reason = $"waiting to dispatch: {e.Message}";
            _logger.LogWarning(e, "Dispatch for {UepId} failed; retrying in {Delay}", UepId, _retryDelay);
            ScheduleDispatch(_retryDelay);
            _retryDelay = TimeSpan.FromTicks(Math.Min(_retryDelay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
        }
    }

    /// <returns>False when the UEP cannot start (the pending tasks have then been failed with the reason).</returns>
    private async Task<bool> StartProcessAsync(UserEndpointSpec spec)
    {
        var endpoint = _catalog.Find(spec.EndpointId);
        if (endpoint is null)
        {
            await FailAllAsync($"endpoint {spec.EndpointId} is no longer served here");
            return false;
        }

        // The account may have been deleted since the tasks were accepted: nothing may start as it.
        if (Mep.Identity.LocalAccounts.Find(spec.LocalUsername) is not { } account)
        {
            await FailAllAsync($"local account '{spec.LocalUsername}' no longer exists on this node");
            return false;
        }

        var node = await Step("choose a node", _nodes.ChooseAsync(spec.EndpointId, S.Node));
        if (!_gate.TryEnter(node, UepId, endpoint.Lifecycle.MaxConcurrentStarts))
        {
            // The node is busy starting other UEPs (max_concurrent_starts): the tasks wait, durable, for a slot.
            S.Reason = "waiting to start: the node is starting other user endpoints";
            ScheduleDispatch(TimeSpan.FromSeconds(1));
            return false;
        }

        try
        {
            return await LaunchAsync(spec, endpoint, node, account.Uid);
        }
        catch
        {
            _gate.Leave(UepId);
            throw;
        }
    }

    private async Task<bool> LaunchAsync(UserEndpointSpec spec, EndpointDefinition endpoint, string node, uint uid)
    {
        // Independent management calls (the user's permissions name the queue, they do not need it), so both at once:
        // a quorum queue's declaration (~8 ms here) is the slowest of the cold start's broker steps.
        var declared = Step("declare the task queue", _broker.EnsureTaskQueueAsync(UepId, CallDeadline()));
        var minted = Step("mint broker credentials", _broker.MintCredentialsAsync(UepId, CallDeadline()));
        await Task.WhenAll(declared, minted);
        var credentials = await minted;
        var document = new UepStartDocument(
            UepId,
            spec.EndpointId,
            credentials,
            endpoint.HeartbeatPeriod.TotalSeconds,
            endpoint.IdleTimeout.TotalSeconds,
            JsonNode.Parse(spec.RenderedConfigJson)!.AsObject(),
            endpoint.Limits,
            endpoint.AllowedFunctions.Order().ToList());
        var limits = endpoint.UserEndpointLimits?.ToRequest();
        var launched = await Step("launcher start", NodeLauncher(node).Start(new NodeLaunchRequest(spec.EndpointId, UepId, spec.LocalUsername,
            ProtocolJson.Serialize(document), limits is null ? null : ProtocolJson.Serialize(limits), endpoint.PamService)));
        if (launched.Pid is not { } pid)
        {
            var refusal = launched.Refusal ?? "no pid and no reason";
            _gate.Leave(UepId);
            Telemetry.MepMetrics.UepStart(spec.EndpointId, launched.Node, "refused");
            await AuditUepStartAsync(spec, launched.Node, pid: null, refusal: refusal); // audit trail
            await FailAllAsync($"the launcher refused to start the user endpoint: {refusal}");
            return false;
        }

        S.Phase = UserEndpointPhase.Starting;
        S.Pid = pid;
        S.TakesTaskBundles = false; // until the new process says it does
        S.Node = launched.Node;
        S.ProcessStartedAt = DateTimeOffset.UtcNow;
        S.Uid = uid;
        S.NextAttemptAt = null;
        S.Reason = S.FailedStarts > 0 ? $"start attempt {S.FailedStarts + 1} of {Lifecycle().MaxStartAttempts}" : null;
        _reconciled = true;
        ReachedByProcess(DateTimeOffset.UtcNow);
        await Step("save the started state", SaveAsync());
        GrainFactory.GetGrain<IEndpointGrain>(spec.EndpointId).SetActive(UepId, true).Ignore();
        _logger.LogInformation("Started user endpoint {UepId} as {User} on node {Node} (pid {Pid}); {ResourceControl}",
            UepId, spec.LocalUsername, launched.Node, pid, launched.ResourceControl ?? "resource control not reported by the launcher");
        Telemetry.MepMetrics.UepStart(spec.EndpointId, launched.Node, "started");
        await AuditUepStartAsync(spec, launched.Node, pid, refusal: null, launched.ResourceControl); // audit trail
        return true;
    }

    private async Task ReconcileWithLauncherAsync()
    {
        if (S.Spec is not { } spec || S.Phase is UserEndpointPhase.Stopped or UserEndpointPhase.Failed)
        {
            _reconciled = true;
            return;
        }

        IReadOnlyList<NodeUep> children;
        try
        {
            children = await Step("launcher list", NodeLauncher(ProcessNode()).List(spec.EndpointId));
        }
        catch (NodeUnavailableException e)
        {
            // Its node left the cluster: the process is lost to us (and most likely gone with the node); the queued
            // and unacknowledged tasks go to a process started on a live node.
            _reconciled = true;
            _logger.LogWarning("User endpoint {UepId} ran on a node that left the cluster ({Message}); starting it elsewhere", UepId, e.Message);
            await HandleExitAsync(exitCode: null, stderrTail: null);
            return;
        }

        _reconciled = true;
        var mine = children.FirstOrDefault(c => string.Equals(c.UepId, UepId, StringComparison.OrdinalIgnoreCase));
        if (mine is null)
        {
            // It ended while nobody was listening (e.g. the silo was down): treat it as an exit we did not see.
            _logger.LogInformation("User endpoint {UepId} is no longer running; recording it as stopped", UepId);
            await HandleExitAsync(exitCode: null, stderrTail: null);
        }
        else if (S.Pid != mine.Pid)
        {
            S.Pid = mine.Pid;
            await SaveAsync();
        }
    }

    /// <summary>
    /// The process ended. An exit nobody asked for, before the UEP reported in or with a failure code, is a failed
    /// start: with tasks waiting it is retried after a doubling delay (<see cref="LifecycleSettings.RetryDelay"/>), and
    /// after <see cref="LifecycleSettings.MaxStartAttempts"/> in a row the UEP fails, and its tasks with it, with the
    /// exit and the last lines of the process's stderr as the reason.
    /// </summary>
    private async Task HandleExitAsync(int? exitCode, string? stderrTail)
    {
        _gate.Leave(UepId);
        if (S.StopRequest is { } stop)
        {
            await AuditUepExitAsync(exitCode, stderrTail, StartRetry.None); // audit trail: before the phase and pid change
            Telemetry.MepMetrics.UepExit(S.Spec?.EndpointId ?? "", ProcessNode(), "stopped");
            await FinishStopAsync(stop, exitCode);
            return;
        }

        var now = DateTimeOffset.UtcNow;
        var phase = S.Phase;
        var ranFor = S.ProcessStartedAt is { } started ? now - started : TimeSpan.Zero;
        var crashed = phase != UserEndpointPhase.Stopping
            && (phase == UserEndpointPhase.Starting ? exitCode != 0 || ranFor < StableRun : exitCode is not null and not 0);
        var lifecycle = Lifecycle();
        var failedStarts = !crashed ? 0 : ranFor >= StableRun ? 1 : S.FailedStarts + 1;
        var retry = !crashed ? StartRetry.None
            : failedStarts >= lifecycle.MaxStartAttempts ? new StartRetry(failedStarts, lifecycle.MaxStartAttempts, null)
            : new StartRetry(failedStarts, lifecycle.MaxStartAttempts, now + lifecycle.RetryDelay(failedStarts));

        // The audit line carries the decision taken on this exit, so the backoff can be read from the log alone.
        await AuditUepExitAsync(exitCode, stderrTail, retry); // audit trail: before the phase and pid change
        Telemetry.MepMetrics.UepExit(S.Spec?.EndpointId ?? "", ProcessNode(),
            exitCode is null ? "lost" : !crashed ? "clean" : phase == UserEndpointPhase.Starting ? "failed_start" : "crashed");
        S.Pid = null;
        S.ProcessStartedAt = null;
        LeftByProcess(now);
        S.Phase = UserEndpointPhase.Stopped;
        S.FailedStarts = failedStarts;
        S.NextAttemptAt = retry.NextAttemptAt;
        if (crashed)
        {
            var tail = string.IsNullOrWhiteSpace(stderrTail) ? "" : $": {stderrTail.Trim()}";
            var exit = $"user endpoint exited with code {exitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown"}{tail}";
            if (retry.NextAttemptAt is not { } next)
            {
                LogGaveUp(_logger, UepId, failedStarts, exit);
                await FailAllAsync($"the user endpoint failed to start {failedStarts} times in a row; the last attempt: {exit}");
                return;
            }

            var delay = next - now;
            S.Reason = $"{exit} (start attempt {failedStarts} of {lifecycle.MaxStartAttempts} failed; next attempt in {delay.TotalSeconds:0.###} s)";
            LogRetrying(_logger, UepId, failedStarts, lifecycle.MaxStartAttempts, delay, exit);
        }

        await SaveAsync();
        if (Pending.Count > 0)
        {
            // Tasks are still queued (e.g. they arrived while it was going idle, or it crashed): start it again.
            ScheduleDispatch(S.NextAttemptAt is { } at ? at - now : TimeSpan.Zero);
        }
        else
        {
            await RevokeAsync(deleteQueue: false);
            LetGoWhenIdle();
        }
    }

    /// <summary>
    /// A user endpoint with no process, no stop under way and nothing queued has nothing left to do in memory: its
    /// activation goes once this call ends, instead of waiting out Orleans' idle collection, so that a silo's
    /// activations follow its live user endpoints rather than every one that ran in the last quarter of an hour. The
    /// next task activates it again from its stored state. (It is not where the silo's growth after heavy load comes
    /// from: bench/README.md has the footprint runs with and without it.)
    /// </summary>
    private void LetGoWhenIdle()
    {
        if (Pending.Count == 0 && S.Phase == UserEndpointPhase.Stopped && S.Pid is null && S.StopRequest is null && !S.Watchdog)
        {
            DeactivateOnIdle();
        }
    }

    private LifecycleSettings Lifecycle() =>
        S.Spec is { } spec && _catalog.Find(spec.EndpointId) is { } endpoint ? endpoint.Lifecycle : LifecycleSettings.Default;

    [LoggerMessage(EventId = 4010, Level = LogLevel.Warning,
        Message = "User endpoint {UepId} failed start attempt {Attempt} of {MaxAttempts}; retrying in {Delay} ({Exit})")]
    private static partial void LogRetrying(ILogger logger, string uepId, int attempt, int maxAttempts, TimeSpan delay, string exit);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Warning,
        Message = "User endpoint {UepId} failed {Attempts} starts in a row; failing it and its tasks ({Exit})")]
    private static partial void LogGaveUp(ILogger logger, string uepId, int attempts, string exit);

    private async Task FailAllAsync(string reason)
    {
        var count = Pending.Count;
        S.Phase = UserEndpointPhase.Failed;
        S.Reason = reason;
        S.Pid = null;
        S.NextAttemptAt = null;
        await FailPendingAsync(reason);
        _logger.LogWarning("User endpoint {UepId} failed: {Reason}; {Count} tasks failed with it", UepId, reason, count);

        // Published copies of the failed tasks must not run later: drop the queue with the credentials.
        await RevokeAsync(deleteQueue: true);
    }

    private async Task RevokeAsync(bool deleteQueue)
    {
        try
        {
            await _broker.RevokeAsync(UepId, deleteQueue, CallDeadline());
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Could not revoke broker access of {UepId}", UepId);
        }

        if (S.Spec is { } spec)
        {
            GrainFactory.GetGrain<IEndpointGrain>(spec.EndpointId).SetActive(UepId, false).Ignore();
        }
    }

    private void ScheduleDispatch(TimeSpan delay) => _dispatchTimer?.Change(delay, Timeout.InfiniteTimeSpan);

    /// <summary>Writes the state, and the progress of queued tasks, with whatever was only in memory so far.</summary>
    private async Task SaveAsync()
    {
        _dirty = false;
        await SyncWatchdogAsync();
        await _state.WriteStateAsync();
        await SaveProgressAsync();
    }

    /// <summary>Writes the progress of the queued tasks that changed since it was last written.</summary>
    private async Task SaveProgressAsync()
    {
        var changed = Pending.Where(p => p.Unsaved).ToList();
        if (changed.Count == 0)
        {
            return;
        }

        await _tasks.SaveProgressAsync(changed);
        foreach (var pending in changed)
        {
            pending.Unsaved = false;
        }
    }

    /// <summary>The node of the current process; state written before nodes were recorded means this silo's.</summary>
    private string ProcessNode() => S.Node ?? _localNode;

    private INodeLauncherGrain NodeLauncher(string node) => GrainFactory.GetGrain<INodeLauncherGrain>(node);

    // The source is left to its timer: it is collected once it fires, and a grain call never outlives it.
    private static CancellationToken CallDeadline() => new CancellationTokenSource(CallTimeout).Token;
}
