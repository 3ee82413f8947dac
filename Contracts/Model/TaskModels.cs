namespace Mep.Contracts.Model;

/// <summary>One task of a submission, as the API received it.</summary>
/// <param name="Args">Shell functions: the named arguments (empty when none were given).</param>
/// <param name="PositionalArgsJson">Python functions: the positional arguments as a JSON array's text; null when not given.</param>
/// <param name="KeywordArgsJson">Python functions: the keyword arguments as a JSON object's text; null when not given.</param>
[GenerateSerializer, Immutable, Alias("mep.submitted-task")]
public sealed record SubmittedTask(
    [property: Id(0)] Guid FunctionId,
    [property: Id(1)] IReadOnlyDictionary<string, string> Args,
    [property: Id(2)] double? WalltimeSeconds,
    [property: Id(3)] string? PositionalArgsJson = null,
    [property: Id(4)] string? KeywordArgsJson = null);

/// <param name="UserEndpointConfigJson">The caller's user endpoint config as JSON text (null: none given).</param>
/// <param name="UserRuntimeJson">What the client said about itself, as JSON text (null: nothing).</param>
[GenerateSerializer, Immutable, Alias("mep.submit-batch")]
public sealed record SubmitBatch(
    [property: Id(0)] IReadOnlyList<SubmittedTask> Tasks,
    [property: Id(1)] string? UserEndpointConfigJson,
    [property: Id(2)] string? UserRuntimeJson = null);

[GenerateSerializer, Immutable, Alias("mep.submit-receipt")]
public sealed record SubmitReceipt(
    [property: Id(0)] string UserEndpointId,
    [property: Id(1)] IReadOnlyList<Guid> TaskIds);

/// <summary>A task held in a user endpoint's durable queue until its result is recorded.</summary>
/// <remarks>
/// A Python task holds its arguments but not the function's source: the source (up to a MiB) would be stored once per
/// task in the user endpoint's state, which is rewritten whole on every change. The user endpoint reads it from the
/// function, which is write-once, when it builds the task message.
/// </remarks>
/// <param name="Command">Shell: the command template. Python: empty.</param>
/// <param name="Args">Shell: the named arguments. Python: empty.</param>
/// <param name="PositionalArgsJson">Python: the positional arguments, a JSON array's text. Shell: null.</param>
/// <param name="KeywordArgsJson">Python: the keyword arguments, a JSON object's text. Shell: null.</param>
[GenerateSerializer, Immutable, Alias("mep.queued-task")]
public sealed record QueuedTask(
    [property: Id(0)] Guid TaskId,
    [property: Id(1)] Guid FunctionId,
    [property: Id(2)] string Command,
    [property: Id(3)] IReadOnlyDictionary<string, string> Args,
    [property: Id(4)] double WalltimeSeconds,
    [property: Id(5)] int OutputLimitBytes,
    [property: Id(6)] DateTimeOffset SubmittedAt,
    [property: Id(7)] FunctionKindModel Kind = FunctionKindModel.Shell,
    [property: Id(8)] string? PositionalArgsJson = null,
    [property: Id(9)] string? KeywordArgsJson = null);

public enum TaskOutcomeState
{
    Success,
    Failed,
}

/// <summary>How a task ended: reported by its UEP, or decided by the cluster (e.g. the UEP could not start).</summary>
/// <param name="ReturnValueJson">A Python function's return value as JSON text; null for shell functions and failures.</param>
/// <param name="Exception">What a Python function raised; null otherwise.</param>
[GenerateSerializer, Immutable, Alias("mep.task-outcome")]
public sealed record TaskOutcome(
    [property: Id(0)] TaskOutcomeState State,
    [property: Id(1)] int? ReturnCode,
    [property: Id(2)] string Stdout,
    [property: Id(3)] string Stderr,
    [property: Id(4)] bool OutputTruncated,
    [property: Id(5)] string? Error,
    [property: Id(6)] string? Hostname,
    [property: Id(7)] string? Username,
    [property: Id(8)] int? Uid,
    [property: Id(9)] DateTimeOffset CompletedAt,
    [property: Id(10)] string? ReturnValueJson = null,
    [property: Id(11)] TaskException? Exception = null)
{
    public static TaskOutcome FailedBy(string error, DateTimeOffset at) =>
        new(TaskOutcomeState.Failed, null, "", "", false, error, null, null, null, at);
}

/// <summary>What a Python function raised: its type (with module), message and formatted traceback.</summary>
[GenerateSerializer, Immutable, Alias("mep.task-exception")]
public sealed record TaskException(
    [property: Id(0)] string Type,
    [property: Id(1)] string Message,
    [property: Id(2)] string Traceback);

/// <summary>What the cluster knows of one task.</summary>
/// <param name="History">The timeline, once the outcome is recorded (null before, and for tasks completed before
/// timelines were kept); a pending task's live timeline is its user endpoint's to tell.</param>
[GenerateSerializer, Immutable, Alias("mep.task-record")]
public sealed record TaskRecord(
    [property: Id(0)] Guid TaskId,
    [property: Id(1)] Guid FunctionId,
    [property: Id(2)] string OwnerIdentityId,
    [property: Id(3)] string EndpointId,
    [property: Id(4)] string UserEndpointId,
    [property: Id(5)] DateTimeOffset SubmittedAt,
    [property: Id(6)] TaskOutcome? Outcome,
    [property: Id(7)] TaskHistory? History = null);
