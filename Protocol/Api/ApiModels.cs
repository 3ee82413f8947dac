using System.Text.Json.Nodes;
using Mep.Protocol.Messages;

namespace Mep.Protocol.Api;

// REST API v1 bodies, shared by the silo (which serves them) and the SDK (which sends them).
// Paths:
//   POST /v1/functions                      RegisterShellFunctionRequest -> 201 FunctionView
//   GET  /v1/functions/{function_id}        -> FunctionView
//   POST /v1/endpoints/{endpoint_id}/submit SubmitRequest -> 202 SubmitResponse
//   GET  /v1/endpoints/{endpoint_id}        -> EndpointView
//   GET  /v1/tasks/{task_id}                -> TaskView
//   POST /v1/tasks/status                   TaskStatusRequest -> TaskStatusResponse
// Errors are RFC 7807 application/problem+json.

public sealed record RegisterShellFunctionRequest(
    string Command,
    string? Name = null,
    double? WalltimeSeconds = null);

public sealed record FunctionView(
    Guid FunctionId,
    FunctionKind Kind,
    string Name,
    string Command,
    IReadOnlyList<string> Arguments,
    double WalltimeSeconds,
    DateTimeOffset RegisteredAt);

public sealed record TaskSubmission(
    Guid FunctionId,
    IReadOnlyDictionary<string, string>? Args = null,
    double? WalltimeSeconds = null);

/// <param name="UserRuntime">What the client says about itself (SDK and runtime versions, OS); the endpoint's
/// template sees it as <c>_GC.user_runtime</c>. It does not choose the user endpoint: only the config does.</param>
public sealed record SubmitRequest(
    IReadOnlyList<TaskSubmission> Tasks,
    JsonObject? UserEndpointConfig = null,
    JsonObject? UserRuntime = null);

public sealed record SubmitResponse(
    string UserEndpointId,
    IReadOnlyList<Guid> TaskIds);

public enum TaskStatus
{
    /// <summary>Accepted and durable; waiting for, or running in, the user endpoint.</summary>
    Pending,
    Success,
    Failed,
}

public sealed record TaskView(
    Guid TaskId,
    Guid FunctionId,
    string EndpointId,
    string UserEndpointId,
    TaskStatus Status,
    DateTimeOffset SubmittedAt,
    DateTimeOffset? CompletedAt = null,
    TaskResultView? Result = null);

public sealed record TaskResultView(
    int? ReturnCode,
    string Stdout,
    string Stderr,
    bool OutputTruncated,
    string? Error,
    string? Hostname,
    string? Username,
    int? Uid);

public sealed record TaskStatusRequest(IReadOnlyList<Guid> TaskIds);

/// <summary>Tasks the caller may not see are reported exactly like tasks that do not exist.</summary>
public sealed record TaskStatusResponse(
    IReadOnlyDictionary<Guid, TaskView> Tasks,
    IReadOnlyList<Guid> NotFound);

public sealed record EndpointView(
    string EndpointId,
    string DisplayName,
    string? LocalUsername,
    IReadOnlyList<UserEndpointView> UserEndpoints);

public sealed record UserEndpointView(
    string UserEndpointId,
    string State,
    string? Reason,
    int PendingTasks,
    JsonObject UserEndpointConfig,
    DateTimeOffset? LastHeartbeat);

/// <summary>RFC 7807 problem details as the API returns them.</summary>
public sealed record Problem(
    string Type,
    string Title,
    int Status,
    string Detail,
    string? Instance = null);
