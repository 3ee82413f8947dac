using Mep.Contracts;
using Mep.Contracts.Model;

namespace Mep.Grains.Tasks;

/// <summary>How a task was stored before the task store (schema version 2 on SQLite, migration 0004 on PostgreSQL): one
/// grain state per task. Only read now, so that tasks recorded by an earlier MEP stay readable.</summary>
[GenerateSerializer, Alias("mep.task-state")]
public sealed class TaskGrainState
{
    [Id(0)]
    public TaskRecord? Record { get; set; }

    [Id(1)]
    public TaskOutcome? Outcome { get; set; }

    [Id(2)]
    public TaskHistory? History { get; set; }
}

/// <summary>One task, read from the task store, or for a task recorded by an earlier MEP from its own grain state.</summary>
public sealed class TaskGrain(
    [PersistentState("task", StorageNames.Mep)] IPersistentState<TaskGrainState> legacy,
    TaskStore store) : Grain, ITaskGrain
{
    public async Task<TaskRecord?> Get(string identityId)
    {
        var stored = await store.GetAsync([this.GetPrimaryKey()], identityId);
        if (stored.Count > 0)
        {
            return stored[0];
        }

        var record = legacy.State.Record;
        if (record is null || !string.Equals(record.OwnerIdentityId, identityId, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        return record with { Outcome = legacy.State.Outcome, History = legacy.State.History };
    }
}
