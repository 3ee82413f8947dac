using Orleans.Concurrency;
using Mep.Contracts.Model;

namespace Mep.Contracts;

/// <summary>
/// One user endpoint (UEP), keyed by its id: owns the UEP process's lifecycle and the UEP's durable task queue.
/// Not reentrant: lifecycle steps never interleave; status reads do.
/// </summary>
[Alias("mep.user-endpoint")]
public interface IUserEndpointGrain : IGrainWithStringKey
{
    /// <summary>Makes the tasks durable in this UEP's queue and schedules their dispatch. Returns when durable.</summary>
    [Alias("enqueue")]
    Task Enqueue(UserEndpointSpec spec, IReadOnlyList<QueuedTask> tasks);

    /// <summary>Records a task's result (idempotent: a second report of the same task changes nothing).</summary>
    [Alias("on-result")]
    Task OnResult(Guid taskId, TaskOutcome outcome);

    [Alias("on-signal")]
    Task OnSignal(UserEndpointSignal signal);

    [Alias("on-exited")]
    Task OnProcessExited(ProcessExit exit);

    /// <summary>Compares the recorded lifecycle with what the launcher really runs, and restarts dispatch if needed.</summary>
    [Alias("reconcile")]
    Task Reconcile();

    /// <summary>
    /// Stops the UEP on behalf of <paramref name="requestedBy"/> (shown in its reason): SIGTERM to a live process,
    /// SIGKILL after the endpoint's grace period. Unfinished tasks stay queued or fail, as the endpoint says; either
    /// way the UEP does not start again until new work arrives. Returns the state right after the request.
    /// </summary>
    [Alias("stop")]
    Task<UserEndpointSnapshot> Stop(string requestedBy);

    [Alias("snapshot"), AlwaysInterleave]
    Task<UserEndpointSnapshot> GetSnapshot();

    /// <summary>The live timelines of those of <paramref name="taskIds"/> still pending here (others are left out:
    /// finished, or never here).</summary>
    [Alias("task-histories"), AlwaysInterleave]
    Task<IReadOnlyDictionary<Guid, TaskHistory>> GetTaskHistories(IReadOnlyList<Guid> taskIds);
}
