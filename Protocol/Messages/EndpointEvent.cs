namespace Mep.Protocol.Messages;

public enum EndpointEventKind
{
    /// <summary>The UEP connected to the broker and is consuming its queue.</summary>
    Started,
    Heartbeat,
    Result,
    /// <summary>The UEP is about to exit on its own (idle, or a fatal error named in Reason).</summary>
    Stopping,
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
public sealed record EndpointEvent(
    EndpointEventKind Kind,
    string UepId,
    DateTimeOffset SentAt,
    TaskResultMessage? Result = null,
    HeartbeatMessage? Heartbeat = null,
    string? Reason = null,
    int? Pid = null);

/// <param name="ReturnCode">Exit status of the shell; 128 + n when killed by signal n; null if it never ran.</param>
/// <param name="Error">Why the task failed when the cause is not the command's own exit status.</param>
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
    string Username);

public sealed record HeartbeatMessage(int Pid, string Hostname, int Running, int Completed);
