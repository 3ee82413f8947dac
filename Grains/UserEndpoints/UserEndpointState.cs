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

    /// <summary>
    /// Where the task queue was kept before the task store (<see cref="Tasks.TaskStore"/>) held it: read once, to move
    /// the tasks of a state written by an earlier MEP into the store; empty in every state written since.
    /// </summary>
    [Id(3)]
    public List<PendingTask> Pending { get; set; } = [];

    [Id(4)]
    public int? Pid { get; set; }

    /// <summary>Consecutive starts that ended in a crash before the UEP ran: drives backoff and giving up.</summary>
    [Id(5)]
    public int FailedStarts { get; set; }

    /// <summary>When the next start may be tried after a failed one (backoff); null when a start may go now.</summary>
    [Id(6)]
    public DateTimeOffset? NextAttemptAt { get; set; }

    /// <summary>When the current process was launched: a crash after a long run is not a crash loop.</summary>
    [Id(7)]
    public DateTimeOffset? ProcessStartedAt { get; set; }

    /// <summary>A stop asked for through the API, until the process has exited.</summary>
    [Id(8)]
    public StopRequest? StopRequest { get; set; }

    /// <summary>Stopped on request: no start (not even for queued tasks) until new work arrives.</summary>
    [Id(9)]
    public bool Held { get; set; }

    /// <summary>The uid of the local account when the process was started: a new account of the same name is not it.</summary>
    [Id(10)]
    public uint? Uid { get; set; }

    /// <summary>The login node the process runs (or last ran) on: its launcher is asked to stop and list it.</summary>
    [Id(11)]
    public string? Node { get; set; }

    /// <summary>The watchdog reminder is registered (it is while tasks are pending).</summary>
    [Id(12)]
    public bool Watchdog { get; set; }

    /// <summary>When a task last arrived or ended here: for admins looking for forgotten user endpoints.</summary>
    [Id(13)]
    public DateTimeOffset? LastTaskAt { get; set; }

    /// <summary>The running process said its workers read task bundles (its Started event); false for a new process
    /// until it says so, and for a UEP older than bundles.</summary>
    [Id(14)]
    public bool TakesTaskBundles { get; set; }
}

/// <param name="RequestedBy">Who stopped it, as its reason shows: the owner's username, or an endpoint admin's.</param>
/// <param name="FailWith">Set when MEP itself stops it for good (its account is gone): it ends failed, with this reason.</param>
[GenerateSerializer, Immutable, Alias("mep.uep-stop-request")]
public sealed record StopRequest(
    [property: Id(0)] string RequestedBy,
    [property: Id(1)] DateTimeOffset At,
    [property: Id(2)] string? FailWith = null);

[GenerateSerializer, Alias("mep.pending-task")]
public sealed class PendingTask
{
    [Id(0)]
    public required QueuedTask Task { get; init; }

    /// <summary>True once the broker confirmed the task in the UEP's queue.</summary>
    [Id(1)]
    public bool Published { get; set; }

    /// <summary>
    /// The timeline so far. Stored in the task store: received and waiting-for-endpoint with the enqueue's write,
    /// waiting-for-nodes with the publish's. Running is only kept in memory until the next write of progress (a
    /// publish, a lifecycle step, deactivation), so a silo crash can lose it, never the other states.
    /// </summary>
    [Id(2)]
    public List<TaskTransition> Transitions { get; set; } = [];

    /// <summary>The worker that last reported starting the task.</summary>
    [Id(3)]
    public TaskPlacement? Placement { get; set; }

    [NonSerialized]
    private bool _unsaved;

    /// <summary>Changed since its progress was last written to the task store (memory only).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool Unsaved { get => _unsaved; set => _unsaved = value; }

    public TaskProgressState LastState() => Transitions.Count > 0 ? Transitions[^1].State : TaskProgressState.Received;

    /// <summary>Records that the task entered <paramref name="state"/>; a repeat of the current state is not a transition.</summary>
    /// <returns>True when the timeline changed.</returns>
    public bool Enter(TaskProgressState state, DateTimeOffset at)
    {
        if (Transitions.Count > 0 && LastState() == state)
        {
            return false;
        }

        Transitions.Add(new TaskTransition(state, at));
        Unsaved = true;
        return true;
    }

    /// <summary>
    /// A copy of the timeline ending in <paramref name="state"/>, leaving this task's own timeline as it is: the end is
    /// entered into the task grain, and if that call fails (its silo just died) the task stays pending as it was,
    /// rather than with an end that a later, recorded end would repeat.
    /// </summary>
    public TaskHistory HistoryEndingIn(TaskProgressState state, DateTimeOffset at)
    {
        var history = History();
        return history.Transitions[^1].State == state
            ? history
            : history with { Transitions = [.. history.Transitions, new TaskTransition(state, at)] };
    }

    /// <summary>A copy of the timeline (a task queued before timelines were kept shows only when it was received).</summary>
    public TaskHistory History() => new(
        Transitions.Count > 0 ? Transitions.ToList() : [new TaskTransition(TaskProgressState.Received, Task.SubmittedAt)],
        Placement);
}

/// <summary>What an exit decided about restarting: nothing (it was not a failed start), the next attempt, or giving up
/// (<see cref="NextAttemptAt"/> null with failed starts counted).</summary>
internal readonly record struct StartRetry(int FailedStarts, int MaxAttempts, DateTimeOffset? NextAttemptAt)
{
    public static StartRetry None => default;
}
