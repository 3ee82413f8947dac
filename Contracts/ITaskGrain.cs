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

    /// <summary>Records the outcome and the task's timeline once; later reports are ignored. Returns true when this
    /// call recorded it.</summary>
    /// <param name="history">The whole timeline, ending with the outcome's state: the user endpoint kept it while the
    /// task was pending, so that the task's record is written once, here.</param>
    [Alias("complete")]
    Task<bool> Complete(TaskOutcome outcome, TaskHistory? history);

    /// <summary>The record if it exists and belongs to <paramref name="identityId"/>; otherwise null (never says which).</summary>
    [Alias("get"), ReadOnly]
    Task<TaskRecord?> Get(string identityId);
}
