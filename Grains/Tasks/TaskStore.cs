using System.Text.Json;
using System.Text.Json.Serialization;
using Mep.Contracts.Model;
using Mep.Database.Tasks;
using Mep.Grains.UserEndpoints;

namespace Mep.Grains.Tasks;

/// <summary>
/// Every accepted task, durable: the queue of each user endpoint (tasks without an end, with their progress) and each
/// task's record and end, which its owner reads. Writes from all grains of the silo are grouped into shared commits
/// (<see cref="TaskWriteBatcher"/>); a returned write is durable.
/// </summary>
public sealed class TaskStore(TaskWriteBatcher writer)
{
    /// <summary>Signalled when an end this silo recorded is committed: long polls wait on it.</summary>
    public TaskEndSignals Ends { get; } = new();

    // Enums by name: the rows outlive this build, and a renumbered enum must not change what they say.
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.General)
    {
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Adds the tasks to the queue of <paramref name="userEndpointId"/>, with their records; an id stored already
    /// is left as it is.</summary>
    public Task AddAsync(string userEndpointId, UserEndpointSpec spec, IReadOnlyList<PendingTask> tasks) =>
        writer.AddAsync(tasks.Select((p, i) => new NewTaskRow(
            p.Task.TaskId,
            userEndpointId,
            spec.IdentityId,
            p.Task.SubmittedAt.UtcTicks,
            i,
            JsonSerializer.Serialize(Record(userEndpointId, spec, p.Task), Json),
            JsonSerializer.Serialize(p.Task, Json),
            Progress(p))).ToList());

    /// <summary>A queued task's record as stored with it (no outcome yet): what the API shows of the task.</summary>
    public static TaskRecord Record(string userEndpointId, UserEndpointSpec spec, QueuedTask task) =>
        new(task.TaskId, task.FunctionId, spec.IdentityId, spec.EndpointId, userEndpointId, task.SubmittedAt, null);

    /// <summary>Writes the progress of these queued tasks (ended ones keep their end).</summary>
    public Task SaveProgressAsync(IReadOnlyList<PendingTask> tasks) =>
        writer.SetProgressAsync(tasks.Select(p => new TaskProgressRow(p.Task.TaskId, Progress(p))).ToList());

    /// <summary>Records the tasks' ends, each only if it has none yet.</summary>
    /// <returns>For each, in order: true when this call recorded it.</returns>
    public async Task<bool[]> CompleteAsync(IReadOnlyList<TaskEnd> ends)
    {
        var recorded = await writer.CompleteAsync(ends.Select(e => new TaskCompletionRow(
            e.TaskId, JsonSerializer.Serialize(e.Outcome, Json), JsonSerializer.Serialize(e.History, Json))).ToList()).ConfigureAwait(false);
        Ends.Ended(ends.Where((_, i) => recorded[i]).Select(e => (e.TaskId, e.Record)));
        return recorded;
    }

    /// <summary>The queue of <paramref name="userEndpointId"/> as last written, in the order the tasks were accepted.</summary>
    public async Task<List<PendingTask>> ReadQueueAsync(string userEndpointId)
    {
        var rows = await writer.Table.ReadQueueAsync(userEndpointId, CancellationToken.None);
        return rows.Select(r =>
        {
            var progress = JsonSerializer.Deserialize<ProgressDocument>(r.ProgressJson, Json)!;
            return new PendingTask
            {
                Task = JsonSerializer.Deserialize<QueuedTask>(r.QueuedJson, Json)!,
                Published = progress.Published,
                Transitions = progress.Transitions.ToList(),
                Placement = progress.Placement,
            };
        }).ToList();
    }

    /// <summary>The records (with their ends, once recorded) of those of <paramref name="taskIds"/> that exist and belong
    /// to <paramref name="identityId"/>; another identity's task is as absent as one that does not exist.</summary>
    public async Task<IReadOnlyList<TaskRecord>> GetAsync(IReadOnlyCollection<Guid> taskIds, string identityId)
    {
        var rows = await writer.Table.ReadAsync(taskIds, CancellationToken.None);
        return rows
            .Where(r => string.Equals(r.OwnerIdentityId, identityId, StringComparison.OrdinalIgnoreCase))
            .Select(Record)
            .ToList();
    }

    /// <summary>As <see cref="GetAsync"/>, but only the tasks that ended are read in full; the others of the identity
    /// are only named (a client waiting for results needs no more of them).</summary>
    public async Task<(IReadOnlyList<TaskRecord> Ended, IReadOnlySet<Guid> Pending)> GetEndedAsync(IReadOnlyCollection<Guid> taskIds, string identityId)
    {
        var rows = await writer.Table.ReadAsync(taskIds, CancellationToken.None);
        var ended = new List<TaskRecord>();
        var pending = new HashSet<Guid>();
        foreach (var row in rows.Where(r => string.Equals(r.OwnerIdentityId, identityId, StringComparison.OrdinalIgnoreCase)))
        {
            if (row.OutcomeJson is null)
            {
                pending.Add(row.TaskId);
                continue;
            }

            ended.Add(Record(row));
        }

        return (ended, pending);
    }

    private static TaskRecord Record(StoredTaskRow r) => JsonSerializer.Deserialize<TaskRecord>(r.RecordJson, Json)! with
    {
        Outcome = r.OutcomeJson is null ? null : JsonSerializer.Deserialize<TaskOutcome>(r.OutcomeJson, Json),
        History = r.HistoryJson is null ? null : JsonSerializer.Deserialize<TaskHistory>(r.HistoryJson, Json),
    };

    private static string Progress(PendingTask p) =>
        JsonSerializer.Serialize(new ProgressDocument(p.Published, p.Transitions, p.Placement), Json);

    private sealed record ProgressDocument(bool Published, IReadOnlyList<TaskTransition> Transitions, TaskPlacement? Placement);
}

/// <summary>A task's end as the task store records it: the outcome and the whole timeline ending in it.</summary>
/// <param name="Record">The task's whole record as ended, when the caller has it: handed to the requests waiting for
/// the task (<see cref="TaskEndSignals"/>), which then need not read back what was just written.</param>
public sealed record TaskEnd(Guid TaskId, TaskOutcome Outcome, TaskHistory History, TaskRecord? Record = null);
