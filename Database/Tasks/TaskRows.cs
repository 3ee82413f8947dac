namespace Mep.Database.Tasks;

// The task table's rows as text: the grains decide what the JSON holds, the table only keeps it.

/// <summary>A task just accepted: its record (what its owner reads) and its place in its user endpoint's queue.</summary>
/// <param name="QueuedAtTicks">When it was accepted (UTC ticks); with <paramref name="Position"/> (its index in its
/// submission) the queue's order.</param>
public sealed record NewTaskRow(
    Guid TaskId,
    string UserEndpointId,
    string OwnerIdentityId,
    long QueuedAtTicks,
    int Position,
    string RecordJson,
    string QueuedJson,
    string ProgressJson);

/// <summary>A queued task's progress (published, timeline, placement), replacing the last one written.</summary>
public sealed record TaskProgressRow(Guid TaskId, string ProgressJson);

/// <summary>A task's end: recorded only if no end was recorded before (the first report wins).</summary>
public sealed record TaskCompletionRow(Guid TaskId, string OutcomeJson, string HistoryJson);

/// <summary>A task still in its user endpoint's queue, as the user endpoint reloads it.</summary>
public sealed record QueuedTaskRow(Guid TaskId, string QueuedJson, string ProgressJson);

/// <summary>A task as its owner reads it; outcome and history are null while it is pending.</summary>
public sealed record StoredTaskRow(Guid TaskId, string OwnerIdentityId, string RecordJson, string? OutcomeJson, string? HistoryJson);
