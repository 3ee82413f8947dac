using Orleans.Concurrency;
using Mep.Contracts.Model;

namespace Mep.Contracts;

/// <summary>One task's record and outcome, keyed by task id; readable only by the identity that submitted it. The API
/// reads many at once from the task store; this is the single-task read, which also finds tasks recorded before the
/// task store existed.</summary>
[Alias("mep.task")]
public interface ITaskGrain : IGrainWithGuidKey
{
    /// <summary>The record if it exists and belongs to <paramref name="identityId"/>; otherwise null (never says which).</summary>
    [Alias("get"), ReadOnly]
    Task<TaskRecord?> Get(string identityId);
}
