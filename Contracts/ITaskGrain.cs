using Orleans.Concurrency;
using Mep.Contracts.Model;

namespace Mep.Contracts;

/// <summary>One task's record and outcome, keyed by task id; readable only by the identity that submitted it.</summary>
[Alias("mep.task")]
public interface ITaskGrain : IGrainWithGuidKey
{
    /// <summary>Stores the record; keeps an outcome already recorded (a fast result may arrive first).</summary>
    [Alias("create")]
    Task Create(TaskRecord record);

    /// <summary>Records the outcome once; later reports are ignored. Returns true when this call recorded it.</summary>
    [Alias("complete")]
    Task<bool> Complete(TaskOutcome outcome);

    /// <summary>The record if it exists and belongs to <paramref name="identityId"/>; otherwise null (never says which).</summary>
    [Alias("get"), ReadOnly]
    Task<TaskRecord?> Get(string identityId);
}
