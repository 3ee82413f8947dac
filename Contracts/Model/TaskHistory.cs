namespace Mep.Contracts.Model;

// Stored (user endpoint queues, task records): values are appended, never renumbered.
public enum TaskProgressState
{
    Received = 0,
    WaitingForEndpoint = 1,
    WaitingForNodes = 2,
    Running = 3,
    Success = 4,
    Failed = 5,
}

/// <summary>A task entered <paramref name="State"/> at <paramref name="At"/>.</summary>
[GenerateSerializer, Immutable, Alias("mep.task-transition")]
public sealed record TaskTransition(
    [property: Id(0)] TaskProgressState State,
    [property: Id(1)] DateTimeOffset At);

/// <summary>The worker that reported starting a task (the endpoint's TaskStarted event).</summary>
/// <param name="JobId">The worker's batch job (Slurm's job id); null for local workers.</param>
/// <param name="Attempt">1 for the first run; n when n - 1 earlier runs ended with their worker's death.</param>
[GenerateSerializer, Immutable, Alias("mep.task-placement")]
public sealed record TaskPlacement(
    [property: Id(0)] string WorkerId,
    [property: Id(1)] string Hostname,
    [property: Id(2)] string? JobId,
    [property: Id(3)] int Attempt);

/// <summary>A task's timeline (every state it entered, in order) and where it ran, if a worker said so.</summary>
[GenerateSerializer, Immutable, Alias("mep.task-history")]
public sealed record TaskHistory(
    [property: Id(0)] IReadOnlyList<TaskTransition> Transitions,
    [property: Id(1)] TaskPlacement? Placement)
{
    public TaskProgressState State => Transitions.Count > 0 ? Transitions[^1].State : TaskProgressState.Received;
}
