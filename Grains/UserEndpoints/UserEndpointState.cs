using Mep.Contracts.Model;

namespace Mep.Grains.UserEndpoints;

[GenerateSerializer, Alias("mep.user-endpoint-state")]
public sealed class UserEndpointState
{
    [Id(0)]
    public UserEndpointSpec? Spec { get; set; }

    [Id(1)]
    public UserEndpointPhase Phase { get; set; } = UserEndpointPhase.Stopped;

    /// <summary>Why the UEP failed or last stopped unexpectedly; shown to its owner.</summary>
    [Id(2)]
    public string? Reason { get; set; }

    /// <summary>The durable task queue: every accepted task whose outcome is not yet recorded, in arrival order.</summary>
    [Id(3)]
    public List<PendingTask> Pending { get; set; } = [];

    [Id(4)]
    public int? Pid { get; set; }

    /// <summary>Consecutive starts that ended in a crash before the UEP ran: drives backoff and giving up.</summary>
    [Id(5)]
    public int FailedStarts { get; set; }
}

[GenerateSerializer, Alias("mep.pending-task")]
public sealed class PendingTask
{
    [Id(0)]
    public required QueuedTask Task { get; init; }

    /// <summary>True once the broker confirmed the task in the UEP's queue.</summary>
    [Id(1)]
    public bool Published { get; set; }
}
