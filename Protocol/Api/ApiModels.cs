using System.Text.Json.Nodes;
using Mep.Protocol.Messages;

namespace Mep.Protocol.Api;

// REST API v1 bodies, shared by the silo (which serves them) and the SDK (which sends them).
// Paths:
//   POST /v1/functions                      RegisterShellFunctionRequest -> 201 FunctionView
//   POST /v1/functions/python               RegisterPythonFunctionRequest -> 201 FunctionView
//   GET  /v1/functions/{function_id}        -> FunctionView
//   POST /v1/endpoints/{endpoint_id}/submit SubmitRequest -> 202 SubmitResponse
//   GET  /v1/endpoints/{endpoint_id}        -> EndpointView
//   POST /v1/endpoints/{endpoint_id}/user_endpoints/{user_endpoint_id}/stop -> 202 UserEndpointView
//   GET  /v1/tasks/{task_id}                -> TaskView
//   POST /v1/tasks/status                   TaskStatusRequest -> TaskStatusResponse (finished_only, wait_ms: long poll)
//   GET  /v1/admin/endpoints/{endpoint_id}/user_endpoints?user=&state=&node= -> AdminUserEndpointList (admins only)
//   GET  /v1/admin/endpoints/{endpoint_id}/users/{identity_username} -> AdminUserView (admins only)
//   GET  /v1/admin/endpoints/{endpoint_id}/audit?user=&since=&until=&uep=&task=&action=&limit= -> AdminAuditList (admins only)
//   GET  /v1/admin/nodes                    -> AdminNodeList (site admins only)
//   POST /v1/admin/nodes/{node}/drain|undrain -> AdminNodeView (site admins only)
// Errors are RFC 7807 application/problem+json.

public sealed record RegisterShellFunctionRequest(
    string Command,
    string? Name = null,
    double? WalltimeSeconds = null);

/// <summary>A Python function: <paramref name="Source"/> defines <paramref name="Entry"/>, which tasks call.</summary>
/// <param name="Source">Python source, at most <see cref="Python.PythonSource.MaxSourceBytes"/> bytes of UTF-8.</param>
/// <param name="Entry">The name of the function to call: a Python identifier, not a keyword.</param>
/// <param name="Name">Shown in listings; defaults to <paramref name="Entry"/>.</param>
public sealed record RegisterPythonFunctionRequest(
    string Source,
    string Entry,
    string? Name = null,
    double? WalltimeSeconds = null);

/// <param name="Command">Shell: the command template. Python: empty.</param>
/// <param name="Arguments">Shell: the template's placeholders. Python: empty.</param>
/// <param name="Entry">Python: the function tasks call. Shell: null.</param>
/// <param name="Source">Python: the source as registered (whoever may run a function may read it, as with a shell
/// command). Shell: null.</param>
public sealed record FunctionView(
    Guid FunctionId,
    FunctionKind Kind,
    string Name,
    string Command,
    IReadOnlyList<string> Arguments,
    double WalltimeSeconds,
    DateTimeOffset RegisteredAt,
    string? Entry = null,
    string? Source = null);

/// <param name="Args">Shell functions: the named arguments of the command template.</param>
/// <param name="PositionalArgs">Python functions: the positional arguments, as JSON values.</param>
/// <param name="KeywordArgs">Python functions: the keyword arguments, as JSON values.</param>
public sealed record TaskSubmission(
    Guid FunctionId,
    IReadOnlyDictionary<string, string>? Args = null,
    double? WalltimeSeconds = null,
    JsonArray? PositionalArgs = null,
    JsonObject? KeywordArgs = null);

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

/// <summary>Where a task is in its life, finer than <see cref="TaskStatus"/> (whose <c>pending</c> covers the first four).</summary>
public enum TaskLifecycleState
{
    /// <summary>Accepted and durable in the cluster.</summary>
    Received,

    /// <summary>In its user endpoint's queue in the cluster while the user endpoint process is not running, or not yet
    /// handed to it.</summary>
    WaitingForEndpoint,

    /// <summary>In the running user endpoint's task queue (the broker confirmed it); no worker has started it.</summary>
    WaitingForNodes,

    /// <summary>A worker started it.</summary>
    Running,

    Success,
    Failed,
}

/// <summary>One step of a task's timeline: the state it entered and when.</summary>
/// <param name="At">The cluster's clock, except <c>running</c> (the worker's start time) and <c>success</c> / <c>failed</c>
/// when the endpoint reported them (the worker's completion time).</param>
public sealed record TaskTransitionView(TaskLifecycleState State, DateTimeOffset At);

/// <summary>Where a task runs (or last ran): the worker that reported starting it.</summary>
/// <param name="JobId">The batch job of the worker (Slurm's job id); null for local workers.</param>
/// <param name="Attempt">1 for the first run; more when earlier runs ended with their worker's death.</param>
public sealed record TaskPlacementView(string WorkerId, string Hostname, string? JobId, int Attempt);

/// <param name="Status">Coarse: pending until the outcome is recorded, then success or failed.</param>
public sealed record TaskView(
    Guid TaskId,
    Guid FunctionId,
    string EndpointId,
    string UserEndpointId,
    TaskStatus Status,
    DateTimeOffset SubmittedAt,
    DateTimeOffset? CompletedAt = null,
    TaskResultView? Result = null)
{
    /// <summary>The latest state of <see cref="Transitions"/>.</summary>
    public TaskLifecycleState State { get; init; } = TaskLifecycleState.Received;

    /// <summary>Every state the task entered, in order (a task moved back, e.g. when its user endpoint restarted,
    /// shows a state again).</summary>
    public IReadOnlyList<TaskTransitionView> Transitions { get; init; } = [];

    /// <summary>Known once a worker reported starting the task.</summary>
    public TaskPlacementView? Placement { get; init; }
}

/// <param name="ReturnValue">A Python function's return value (JSON null also when it returned None); null for shell
/// functions and failures.</param>
/// <param name="Exception">What a Python function raised; null otherwise.</param>
public sealed record TaskResultView(
    int? ReturnCode,
    string Stdout,
    string Stderr,
    bool OutputTruncated,
    string? Error,
    string? Hostname,
    string? Username,
    int? Uid,
    JsonNode? ReturnValue = null,
    PythonException? Exception = null);

/// <param name="FinishedOnly">Answer with the finished tasks only (and unknown ids): what a client waiting for results
/// needs, without the views of the tasks still pending.</param>
/// <param name="WaitMs">With <paramref name="FinishedOnly"/>: hold the answer until at least one of the tasks has finished
/// (or is unknown), at most this long (0..30000); an answer after the wait may be empty.</param>
public sealed record TaskStatusRequest(IReadOnlyList<Guid> TaskIds, bool FinishedOnly = false, int? WaitMs = null);

/// <summary>Tasks the caller may not see are reported exactly like tasks that do not exist.</summary>
public sealed record TaskStatusResponse(
    IReadOnlyDictionary<Guid, TaskView> Tasks,
    IReadOnlyList<Guid> NotFound);

public sealed record EndpointView(
    string EndpointId,
    string DisplayName,
    string? LocalUsername,
    IReadOnlyList<UserEndpointView> UserEndpoints);

/// <param name="NextAttemptAt">After a failed start: when the next attempt is made (null otherwise).</param>
/// <param name="FailedStarts">Failed starts in a row so far (the UEP fails at the endpoint's max_start_attempts).</param>
public sealed record UserEndpointView(
    string UserEndpointId,
    string State,
    string? Reason,
    int PendingTasks,
    JsonObject UserEndpointConfig,
    DateTimeOffset? LastHeartbeat,
    DateTimeOffset? NextAttemptAt = null,
    int FailedStarts = 0);

/// <summary>RFC 7807 problem details as the API returns them.</summary>
public sealed record Problem(
    string Type,
    string Title,
    int Status,
    string Detail,
    string? Instance = null);

/// <summary>Every user endpoint of an endpoint, for its admins.</summary>
public sealed record AdminUserEndpointList(string EndpointId, IReadOnlyList<AdminUserEndpointView> UserEndpoints);

/// <param name="IdentityId">The owner's federated identity id.</param>
/// <param name="LocalUsername">The local account it runs as.</param>
/// <param name="Node">The login node whose launcher runs (or last ran) its process.</param>
/// <param name="StartedAt">When its current process was started (null: none runs).</param>
/// <param name="LastTaskAt">When a task last arrived or ended.</param>
public sealed record AdminUserEndpointView(
    string UserEndpointId,
    string IdentityId,
    string? LocalUsername,
    string State,
    string? Reason,
    string? Node,
    int? Pid,
    int PendingTasks,
    DateTimeOffset? StartedAt,
    DateTimeOffset? LastHeartbeat,
    DateTimeOffset? LastTaskAt,
    JsonObject UserEndpointConfig);

/// <summary>One identity as an endpoint's admins see it: its mapping on this endpoint and its user endpoints.</summary>
/// <param name="Refusal">Why it cannot run tasks here (no mapping, or an account the node refuses); null when it can.</param>
/// <param name="Candidates">Every account the mapping produced, in order; the first decides.</param>
/// <param name="DocumentFailures">Mapping documents that failed for it (e.g. an external program that timed out).</param>
public sealed record AdminUserView(
    string IdentityUsername,
    string IdentityId,
    string? LocalUsername,
    string? Refusal,
    IReadOnlyList<AdminMappingCandidate> Candidates,
    IReadOnlyList<string> DocumentFailures,
    IReadOnlyList<AdminUserEndpointView> UserEndpoints);

/// <param name="Rule">The rule, as <c>document[D].rule[R]</c> (or <c>document[D]</c> for an external program).</param>
public sealed record AdminMappingCandidate(string IdentityId, string Username, string Rule);

/// <summary>The login nodes, for the site's admins.</summary>
public sealed record AdminNodeList(IReadOnlyList<AdminNodeView> Nodes);

/// <param name="Live">An active silo of that name is in the cluster.</param>
/// <param name="Drained">No new user endpoint process starts there; those it runs finish.</param>
public sealed record AdminNodeView(string Node, bool Live, bool Drained);

/// <summary>An endpoint's audit entries from every login node's log (each node keeps its own), for its admins.</summary>
/// <param name="Entries">Oldest first; at most the query's limit, the newest.</param>
/// <param name="NodesAnswered">The nodes whose logs were read.</param>
/// <param name="NodesFailed">Nodes whose logs could not be read (no live silo, an unreadable file, no answer in time):
/// their entries are missing from <paramref name="Entries"/>.</param>
/// <param name="Truncated">More entries matched than the limit: the oldest were left out.</param>
public sealed record AdminAuditList(
    string EndpointId,
    IReadOnlyList<AdminAuditEntry> Entries,
    IReadOnlyList<string> NodesAnswered,
    IReadOnlyList<AdminAuditNodeFailure> NodesFailed,
    bool Truncated);

/// <param name="Node">The login node whose audit log holds the entry (the silo that wrote it).</param>
/// <param name="Entry">The entry as stored: snake_case keys, see the README's audit log section.</param>
public sealed record AdminAuditEntry(string Node, JsonObject Entry);

public sealed record AdminAuditNodeFailure(string Node, string Reason);
