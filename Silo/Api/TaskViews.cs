using System.Text.Json.Nodes;
using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains.Tasks;
using Mep.Protocol.Api;
using Mep.Protocol.Messages;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Silo.Api;

/// <summary>
/// Task records as the API shows them. A finished task's record holds its whole timeline; a pending task's live state
/// is kept by its user endpoint grain, which is asked once per user endpoint for all the pending tasks of a request.
/// </summary>
internal static class TaskViews
{
    /// <summary>The caller's records among <paramref name="ids"/>, read together from the task store; an id it does not
    /// hold may be a task recorded before it existed, which its task grain reads.</summary>
    public static async Task<IReadOnlyList<TaskRecord>> ReadAsync(IGrainFactory grains, TaskStore tasks, IReadOnlyList<Guid> ids, string identityId)
    {
        var stored = await tasks.GetAsync(ids, identityId);
        if (stored.Count == ids.Count)
        {
            return stored;
        }

        var found = stored.Select(r => r.TaskId).ToHashSet();
        var older = await Task.WhenAll(ids.Where(id => !found.Contains(id)).Select(id => grains.GetGrain<ITaskGrain>(id).Get(identityId)));
        return [.. stored, .. older.OfType<TaskRecord>()];
    }

    /// <summary>Views of the caller's finished tasks among <paramref name="ids"/>, and the ids it has no task of.</summary>
    public static async Task<(List<TaskView> Ended, List<Guid> Missing)> ReadFinishedAsync(
        IGrainFactory grains, TaskStore tasks, IReadOnlyList<Guid> ids, string identityId)
    {
        var (ended, pending) = await tasks.GetEndedAsync(ids, identityId);
        var records = ended.ToList();
        var missing = new List<Guid>();
        if (ended.Count + pending.Count < ids.Count)
        {
            // Not in the store: a task recorded before it existed, or none.
            var known = ended.Select(r => r.TaskId).Concat(pending).ToHashSet();
            foreach (var id in ids.Where(id => !known.Contains(id)))
            {
                switch (await grains.GetGrain<ITaskGrain>(id).Get(identityId))
                {
                    case null:
                        missing.Add(id);
                        break;
                    case { Outcome: not null } older:
                        records.Add(older);
                        break;
                }
            }
        }

        return (records.Select(r => ToView(r, r.History)).ToList(), missing);
    }

    public static async Task<List<TaskView>> BuildAsync(IGrainFactory grains, TaskStore tasks, IReadOnlyList<TaskRecord> records, string identityId)
    {
        var pending = records.Where(r => r.Outcome is null).GroupBy(r => r.UserEndpointId, StringComparer.OrdinalIgnoreCase).ToList();
        var answers = await Task.WhenAll(pending.Select(g =>
            grains.GetGrain<IUserEndpointGrain>(g.Key).GetTaskHistories(g.Select(r => r.TaskId).ToList())));
        var live = answers.SelectMany(a => a).ToDictionary(a => a.Key, a => a.Value);

        // Finished between the two reads (or being recorded right now): the store has the end.
        var ended = records.Where(r => r.Outcome is null && !(live.TryGetValue(r.TaskId, out var h) && !IsFinal(h.State))).Select(r => r.TaskId).ToList();
        var reread = ended.Count == 0 ? new Dictionary<Guid, TaskRecord>()
            : (await tasks.GetAsync(ended, identityId)).ToDictionary(r => r.TaskId);

        var views = new List<TaskView>(records.Count);
        foreach (var record in records)
        {
            var current = record;
            TaskHistory? history = record.History;
            if (record.Outcome is null)
            {
                if (live.TryGetValue(record.TaskId, out var known) && !IsFinal(known.State))
                {
                    history = known;
                }
                else
                {
                    current = reread.GetValueOrDefault(record.TaskId) ?? record;
                    history = current.History;
                }
            }

            views.Add(ToView(current, history));
        }

        return views;
    }

    public static TaskView ToView(TaskRecord r, TaskHistory? history)
    {
        var transitions = history?.Transitions.ToList() ?? [new TaskTransition(TaskProgressState.Received, r.SubmittedAt)];
        if (r.Outcome is { } o && !IsFinal(transitions[^1].State))
        {
            // A record completed before timelines were kept: its end is all that is known after receipt.
            transitions.Add(new TaskTransition(Final(o), o.CompletedAt));
        }

        return new TaskView(
            r.TaskId,
            r.FunctionId,
            r.EndpointId,
            r.UserEndpointId,
            r.Outcome switch
            {
                null => ApiTaskStatus.Pending,
                { State: TaskOutcomeState.Success } => ApiTaskStatus.Success,
                _ => ApiTaskStatus.Failed,
            },
            r.SubmittedAt,
            r.Outcome?.CompletedAt,
            r.Outcome is { } outcome ? Result(outcome) : null)
        {
            State = Api(transitions[^1].State),
            Transitions = transitions.Select(t => new TaskTransitionView(Api(t.State), t.At)).ToList(),
            Placement = history?.Placement is { } p ? new TaskPlacementView(p.WorkerId, p.Hostname, p.JobId, p.Attempt) : null,
        };
    }

    private static TaskResultView Result(TaskOutcome o) => new(
        o.ReturnCode,
        o.Stdout,
        o.Stderr,
        o.OutputTruncated,
        o.Error,
        o.Hostname,
        o.Username,
        o.Uid,
        o.ReturnValueJson is { } json ? JsonNode.Parse(json) : null,
        o.Exception is { } e ? new PythonException(e.Type, e.Message, e.Traceback) : null);

    private static bool IsFinal(TaskProgressState state) => state is TaskProgressState.Success or TaskProgressState.Failed;

    private static TaskProgressState Final(TaskOutcome o) =>
        o.State == TaskOutcomeState.Success ? TaskProgressState.Success : TaskProgressState.Failed;

    private static TaskLifecycleState Api(TaskProgressState state) => state switch
    {
        TaskProgressState.Received => TaskLifecycleState.Received,
        TaskProgressState.WaitingForEndpoint => TaskLifecycleState.WaitingForEndpoint,
        TaskProgressState.WaitingForNodes => TaskLifecycleState.WaitingForNodes,
        TaskProgressState.Running => TaskLifecycleState.Running,
        TaskProgressState.Success => TaskLifecycleState.Success,
        TaskProgressState.Failed => TaskLifecycleState.Failed,
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "unknown task state"),
    };
}
