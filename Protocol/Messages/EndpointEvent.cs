namespace Mep.Protocol.Messages;

public enum EndpointEventKind
{
    /// <summary>The UEP connected to the broker and is consuming its queue. Its workers start while it connects and
    /// publish on their own connections, so their first TaskStarted or Result may arrive before it.</summary>
    Started,
    Heartbeat,
    Result,

    /// <summary>A worker began running a task (the task's <c>running</c> transition).</summary>
    TaskStarted,

    /// <summary>The UEP is about to exit on its own (idle, or a fatal error named in Reason).</summary>
    Stopping,

    /// <summary>
    /// Several results in one message (<see cref="EndpointEvent.Results"/>): a worker whose tasks end faster than the
    /// broker confirms its publishes sends what ended meanwhile together. Silos older than this kind drop it as
    /// unreadable, so a site upgrades its silos before its UEPs.
    /// </summary>
    Results,
}

public enum TaskState
{
    Success,
    Failed,
}

/// <summary>
/// Everything a UEP sends back to the cluster, on the <c>mep.events</c> stream (routing key
/// <c>{partition}.uep.{uep_id}</c>) with the AMQP <c>user-id</c> property set to its broker user (the broker verifies it).
/// </summary>
/// <param name="Pid">The sending UEP process: lifecycle signals from an earlier process of the same UEP (still in the
/// stream after it died) must not move the current one's state.</param>
/// <param name="Results">The results of a <see cref="EndpointEventKind.Results"/> event, in the order they ended.</param>
/// <param name="TakesTaskBundles">On <see cref="EndpointEventKind.Started"/>: this UEP's workers read task bundles
/// (<see cref="BrokerNames.TaskBundleType"/>). Null from a UEP older than bundles: it gets one task per message.</param>
public sealed record EndpointEvent(
    EndpointEventKind Kind,
    string UepId,
    DateTimeOffset SentAt,
    TaskResultMessage? Result = null,
    HeartbeatMessage? Heartbeat = null,
    string? Reason = null,
    int? Pid = null,
    TaskStartedMessage? Started = null,
    IReadOnlyList<TaskResultMessage>? Results = null,
    bool? TakesTaskBundles = null);

/// <summary>A worker took a task off the queue and starts it now.</summary>
/// <param name="WorkerId">The worker, as its UEP names it (<c>{block}.{node index}</c>).</param>
/// <param name="JobId">The batch job the worker runs in (Slurm's job id); null for the local provider.</param>
/// <param name="Attempt">1 for the first run; n when n - 1 earlier runs ended with their worker's death.</param>
public sealed record TaskStartedMessage(
    Guid TaskId,
    DateTimeOffset StartedAt,
    string Hostname,
    string WorkerId,
    string? JobId,
    int Attempt);

/// <param name="ReturnCode">Exit status of the shell; 128 + n when killed by signal n; null if it never ran.</param>
/// <param name="Error">Why the task failed when the cause is not the command's own exit status: one line, fit to show.</param>
/// <param name="ReturnValue">A Python function's return value as JSON text; null for shell functions and failures.</param>
/// <param name="Started">The run's start, for a task that ended before its start was reported on its own (a short
/// task's start and end travel in one message); null when a TaskStarted event went before.</param>
/// <param name="Exception">The exception a Python function raised; null otherwise.</param>
public sealed record TaskResultMessage(
    Guid TaskId,
    TaskState State,
    int? ReturnCode,
    string Stdout,
    string Stderr,
    bool OutputTruncated,
    string? Error,
    DateTimeOffset StartedAt,
    DateTimeOffset CompletedAt,
    string Hostname,
    int Uid,
    string Username,
    string? ReturnValue = null,
    PythonException? Exception = null,
    TaskStartedMessage? Started = null);

/// <summary>What a Python function raised: <c>type(e).__qualname__</c> with its module, <c>str(e)</c>, and the formatted traceback.</summary>
public sealed record PythonException(string Type, string Message, string Traceback);

public sealed record HeartbeatMessage(int Pid, string Hostname, int Running, int Completed);
