namespace Mep.Contracts.Model;

/// <summary>One task of a submission, as the API received it.</summary>
[GenerateSerializer, Immutable, Alias("mep.submitted-task")]
public sealed record SubmittedTask(
    [property: Id(0)] Guid FunctionId,
    [property: Id(1)] IReadOnlyDictionary<string, string> Args,
    [property: Id(2)] double? WalltimeSeconds);

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
[GenerateSerializer, Immutable, Alias("mep.queued-task")]
public sealed record QueuedTask(
    [property: Id(0)] Guid TaskId,
    [property: Id(1)] Guid FunctionId,
    [property: Id(2)] string Command,
    [property: Id(3)] IReadOnlyDictionary<string, string> Args,
    [property: Id(4)] double WalltimeSeconds,
    [property: Id(5)] int OutputLimitBytes,
    [property: Id(6)] DateTimeOffset SubmittedAt);

public enum TaskOutcomeState
{
    Success,
    Failed,
}

/// <summary>How a task ended: reported by its UEP, or decided by the cluster (e.g. the UEP could not start).</summary>
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
    [property: Id(9)] DateTimeOffset CompletedAt)
{
    public static TaskOutcome FailedBy(string error, DateTimeOffset at) =>
        new(TaskOutcomeState.Failed, null, "", "", false, error, null, null, null, at);
}

/// <summary>What the cluster knows of one task.</summary>
[GenerateSerializer, Immutable, Alias("mep.task-record")]
public sealed record TaskRecord(
    [property: Id(0)] Guid TaskId,
    [property: Id(1)] Guid FunctionId,
    [property: Id(2)] string OwnerIdentityId,
    [property: Id(3)] string EndpointId,
    [property: Id(4)] string UserEndpointId,
    [property: Id(5)] DateTimeOffset SubmittedAt,
    [property: Id(6)] TaskOutcome? Outcome);
