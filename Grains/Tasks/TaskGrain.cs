using Mep.Contracts;
using Mep.Contracts.Model;

namespace Mep.Grains.Tasks;

[GenerateSerializer, Alias("mep.task-state")]
public sealed class TaskGrainState
{
    [Id(0)]
    public TaskRecord? Record { get; set; }

    /// <summary>Kept apart from the record because a fast task's result can arrive before the record is written.</summary>
    [Id(1)]
    public TaskOutcome? Outcome { get; set; }

    /// <summary>The timeline handed over with the outcome (null for tasks completed before timelines were kept).</summary>
    [Id(2)]
    public TaskHistory? History { get; set; }
}

public sealed class TaskGrain(
    [PersistentState("task", StorageNames.Mep)] IPersistentState<TaskGrainState> state) : Grain, ITaskGrain
{
    public async Task Create(TaskRecord record)
    {
        if (state.State.Record is not null)
        {
            return;
        }

        state.State.Record = record with { Outcome = null, History = null };
        await state.WriteStateAsync();
    }

    public async Task<bool> Complete(TaskOutcome outcome, TaskHistory? history)
    {
        if (state.State.Outcome is not null)
        {
            return false;
        }

        state.State.Outcome = outcome;
        state.State.History = history;
        await state.WriteStateAsync();
        return true;
    }

    public Task<TaskRecord?> Get(string identityId)
    {
        var record = state.State.Record;
        if (record is null || !string.Equals(record.OwnerIdentityId, identityId, StringComparison.OrdinalIgnoreCase))
        {
            return Task.FromResult<TaskRecord?>(null);
        }

        return Task.FromResult<TaskRecord?>(record with { Outcome = state.State.Outcome, History = state.State.History });
    }
}
