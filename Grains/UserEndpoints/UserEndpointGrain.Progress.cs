using System.Text.Json.Nodes;
using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains.Tasks;
using Mep.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace Mep.Grains.UserEndpoints;

/// <summary>
/// The tasks' side of a user endpoint: their timelines (received → waiting-for-endpoint → waiting-for-nodes → running →
/// success | failed), kept here while they are pending (and written to the task store) and recorded with the end, and the task
/// messages the UEP's workers receive.
/// </summary>
public sealed partial class UserEndpointGrain
{
    // Functions are write-once, so a definition read once serves every later task of this activation.
    private readonly Dictionary<Guid, FunctionDefinition> _functions = [];

    public Task<IReadOnlyDictionary<Guid, TaskHistory>> GetTaskHistories(IReadOnlyList<Guid> taskIds)
    {
        var wanted = taskIds.ToHashSet();
        IReadOnlyDictionary<Guid, TaskHistory> found = Pending
            .Where(p => wanted.Contains(p.Task.TaskId))
            .ToDictionary(p => p.Task.TaskId, p => p.History());
        return Task.FromResult(found);
    }

    /// <summary>
    /// A worker started a task. Kept in memory only (see <see cref="PendingTask.Transitions"/>): a write per task start
    /// would double the writes of a busy endpoint. A start that repeats the current placement is a redelivered event;
    /// a start with another placement or attempt is a new run (the previous worker died) and shows as running again.
    /// </summary>
    private Task OnTaskStarted(TaskStartedMessage started)
    {
        var pending = Pending.Find(p => p.Task.TaskId == started.TaskId);
        if (pending is null)
        {
            // Its result is recorded already (events of one task arrive in order), or it is not this UEP's task.
            _logger.LogDebug("Ignoring start of task {TaskId} not pending on {UepId}", started.TaskId, UepId);
            return Task.CompletedTask;
        }

        var placement = new TaskPlacement(started.WorkerId, started.Hostname, started.JobId, started.Attempt);
        if (pending.Placement == placement && pending.LastState() == TaskProgressState.Running)
        {
            return Task.CompletedTask;
        }

        pending.Placement = placement;
        pending.Transitions.Add(new TaskTransition(TaskProgressState.Running, started.StartedAt));
        pending.Unsaved = true;
        StageTaskStartedAudit(pending, started); // audit trail (UserEndpointGrain.Audit.cs)
        return Task.CompletedTask;
    }

    /// <summary>The UEP process runs (it was just started, or reported in): tasks already in its broker queue are
    /// within its workers' reach again.</summary>
    private void ReachedByProcess(DateTimeOffset at)
    {
        foreach (var pending in Pending.Where(p => p.Published))
        {
            if (pending.LastState() == TaskProgressState.WaitingForEndpoint)
            {
                pending.Enter(TaskProgressState.WaitingForNodes, at);
            }
        }
    }

    /// <summary>
    /// The UEP process is gone: tasks waiting in its queue wait for the next process. Running tasks stay running: their
    /// workers may outlive the manager (a batch job), and if they died the broker hands the task out again, which
    /// shows as a new start.
    /// </summary>
    private void LeftByProcess(DateTimeOffset at)
    {
        foreach (var pending in Pending.Where(p => p.LastState() == TaskProgressState.WaitingForNodes))
        {
            pending.Enter(TaskProgressState.WaitingForEndpoint, at);
        }
    }

    /// <summary>Task messages for <paramref name="pending"/>; a task whose function cannot be read any more is failed
    /// here (functions are never deleted, so this means lost data, and retrying would not bring it back).</summary>
    private async Task<List<(PendingTask Pending, TaskMessage Message)>> BuildMessagesAsync(List<PendingTask> pending)
    {
        var messages = new List<(PendingTask, TaskMessage)>(pending.Count);
        foreach (var p in pending)
        {
            var t = p.Task;
            if (t.Kind == FunctionKindModel.Shell)
            {
                messages.Add((p, new TaskMessage(t.TaskId, t.FunctionId, FunctionKind.Shell, t.Command, t.Args, t.WalltimeSeconds, t.OutputLimitBytes)));
                continue;
            }

            var function = await FunctionAsync(t.FunctionId);
            if (function is not { Kind: FunctionKindModel.Python, Source: { } source, Entry: { } entry })
            {
                await FailTaskAsync(p, $"function {t.FunctionId} is no longer registered as a Python function");
                continue;
            }

            var call = new PythonCall(
                source,
                entry,
                JsonNode.Parse(t.PositionalArgsJson ?? "[]")!.AsArray(),
                JsonNode.Parse(t.KeywordArgsJson ?? "{}")!.AsObject());
            messages.Add((p, new TaskMessage(
                t.TaskId, t.FunctionId, FunctionKind.Python, "", new Dictionary<string, string>(), t.WalltimeSeconds, t.OutputLimitBytes, call)));
        }

        return messages;
    }

    private async Task<FunctionDefinition?> FunctionAsync(Guid functionId)
    {
        if (_functions.TryGetValue(functionId, out var known))
        {
            return known;
        }

        var function = await GrainFactory.GetGrain<IFunctionGrain>(functionId).Get();
        if (function is not null)
        {
            _functions[functionId] = function;
        }

        return function;
    }

    private async Task FailTaskAsync(PendingTask pending, string reason)
    {
        var now = DateTimeOffset.UtcNow;
        var recorded = await _tasks.CompleteAsync([new TaskEnd(pending.Task.TaskId, TaskOutcome.FailedBy(reason, now), pending.HistoryEndingIn(TaskProgressState.Failed, now))]);
        if (recorded[0])
        {
            await AuditTasksEndedAsync([pending], TaskOutcome.FailedBy(reason, now)); // audit trail
        }

        Pending.Remove(pending);
        _logger.LogWarning("Task {TaskId} on {UepId} failed: {Reason}", pending.Task.TaskId, UepId, reason);
    }
}
