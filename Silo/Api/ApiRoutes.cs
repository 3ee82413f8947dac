using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains;
using Mep.Grains.Tasks;
using Mep.Protocol;
using Mep.Protocol.Api;
using Mep.Protocol.Messages;
using Mep.Protocol.Python;
using Mep.Protocol.Shell;
using Mep.Silo.Auth;
using Microsoft.Extensions.Options;

namespace Mep.Silo.Api;

/// <summary>REST API v1 (paths and bodies in <see cref="ApiModels"/>). Handlers translate; grains decide.</summary>
public static class ApiRoutes
{
    private const int MaxStatusIds = 10_000;
    private const int MaxWaitMs = 30_000;
    private static readonly TimeSpan LongPollRecheck = TimeSpan.FromMilliseconds(100);

    public static void MapMepApi(this WebApplication app)
    {
        var v1 = app.MapGroup("/v1").RequireAuthorization();
        v1.MapPost("/functions", RegisterFunction);
        v1.MapPost("/functions/python", RegisterPythonFunction);
        v1.MapGet("/functions/{functionId}", GetFunction);
        v1.MapPost("/endpoints/{endpointId}/submit", Submit);
        v1.MapGet("/endpoints/{endpointId}", GetEndpoint);
        v1.MapPost("/endpoints/{endpointId}/user_endpoints/{userEndpointId}/stop", StopUserEndpoint);
        v1.MapGet("/tasks/{taskId}", GetTask);
        v1.MapPost("/tasks/status", GetTaskStatus);
        app.MapMepAdminApi();
    }

    private static async Task<IResult> RegisterFunction(HttpContext http, IGrainFactory grains, IOptions<MepOptions> options, CancellationToken ct)
    {
        var caller = Caller(http);
        var body = await ApiBody.Read<RegisterShellFunctionRequest>(http.Request, ct);
        if (string.IsNullOrWhiteSpace(body.Command))
        {
            throw ProblemException.BadRequest("command: must not be empty");
        }

        IReadOnlyList<string> arguments;
        try
        {
            arguments = ShellCommand.Placeholders(body.Command);
        }
        catch (FormatException e)
        {
            throw ProblemException.BadRequest($"command: {e.Message}");
        }

        var walltime = Walltime(body.WalltimeSeconds, options.Value);
        var id = Guid.CreateVersion7();
        var definition = await grains.GetGrain<IFunctionGrain>(id).Register(new FunctionDefinition(
            id, caller.IdentityId, FunctionKindModel.Shell, body.Name ?? "shell function", body.Command, arguments, walltime, DateTimeOffset.UtcNow));
        return Results.Json(ToView(definition), ProtocolJson.Options, statusCode: 201);
    }

    /// <summary>A Python function, checked as text only: whether it defines its entry is for Python to say, on the worker.</summary>
    private static async Task<IResult> RegisterPythonFunction(HttpContext http, IGrainFactory grains, IOptions<MepOptions> options, CancellationToken ct)
    {
        var caller = Caller(http);
        var body = await ApiBody.Read<RegisterPythonFunctionRequest>(http.Request, ct);
        if (PythonSource.SourceProblem(body.Source) is { } sourceProblem)
        {
            throw ProblemException.BadRequest($"source: {sourceProblem}");
        }

        if (PythonSource.EntryProblem(body.Entry) is { } entryProblem)
        {
            throw ProblemException.BadRequest($"entry: {entryProblem}");
        }

        if (body.Name is { } name && string.IsNullOrWhiteSpace(name))
        {
            throw ProblemException.BadRequest("name: must not be blank");
        }

        var walltime = Walltime(body.WalltimeSeconds, options.Value);
        var id = Guid.CreateVersion7();
        var definition = await grains.GetGrain<IFunctionGrain>(id).Register(new FunctionDefinition(
            id, caller.IdentityId, FunctionKindModel.Python, body.Name ?? body.Entry, "", [], walltime, DateTimeOffset.UtcNow, body.Source, body.Entry));
        return Results.Json(ToView(definition), ProtocolJson.Options, statusCode: 201);
    }

    private static double Walltime(double? requested, MepOptions options)
    {
        var walltime = requested ?? options.DefaultWalltimeSeconds;
        return walltime > 0 && !double.IsNaN(walltime) ? walltime : throw ProblemException.BadRequest("walltime_seconds: must be positive");
    }

    private static async Task<IResult> GetFunction(HttpContext http, string functionId, IGrainFactory grains)
    {
        Caller(http);
        var id = ParseId(functionId, "function");
        var definition = await grains.GetGrain<IFunctionGrain>(id).Get()
            ?? throw ProblemException.NotFound($"function {id} not found");
        return Results.Json(ToView(definition), ProtocolJson.Options);
    }

    private static async Task<IResult> Submit(HttpContext http, string endpointId, IGrainFactory grains, CancellationToken ct)
    {
        var caller = Caller(http);
        var id = ParseId(endpointId, "endpoint");
        var body = await ApiBody.Read<SubmitRequest>(http.Request, ct);
        var tasks = body.Tasks.Select(t => new SubmittedTask(
            t.FunctionId,
            t.Args ?? new Dictionary<string, string>(),
            t.WalltimeSeconds,
            t.PositionalArgs?.ToJsonString(),
            t.KeywordArgs?.ToJsonString())).ToList();
        var receipt = await grains.GetGrain<IEndpointGrain>(id.ToString())
            .Submit(caller, new SubmitBatch(tasks, body.UserEndpointConfig?.ToJsonString(), body.UserRuntime?.ToJsonString()));
        return Results.Json(new SubmitResponse(receipt.UserEndpointId, receipt.TaskIds), ProtocolJson.Options, statusCode: 202);
    }

    private static async Task<IResult> GetEndpoint(HttpContext http, string endpointId, IGrainFactory grains)
    {
        var caller = Caller(http);
        var id = ParseId(endpointId, "endpoint");
        var d = await grains.GetGrain<IEndpointGrain>(id.ToString()).Describe(caller);
        var view = new EndpointView(d.EndpointId, d.DisplayName, d.LocalUsername, d.UserEndpoints.Select(ToView).ToList());
        return Results.Json(view, ProtocolJson.Options);
    }

    /// <summary>202: the stop is under way (SIGTERM sent); the view says so, and the endpoint's view shows when it ends.</summary>
    private static async Task<IResult> StopUserEndpoint(HttpContext http, string endpointId, string userEndpointId, IGrainFactory grains)
    {
        var caller = Caller(http);
        var id = ParseId(endpointId, "endpoint");
        // Ids are UUIDs; anything else cannot name a user endpoint, and is answered as any unknown one is.
        var uepId = Guid.TryParse(userEndpointId, out var uep)
            ? uep.ToString()
            : throw Mep.Grains.Endpoint.EndpointGrain.UserEndpointNotFound(userEndpointId);
        var snapshot = await grains.GetGrain<IEndpointGrain>(id.ToString()).StopUserEndpoint(caller, uepId);
        return Results.Json(ToView(snapshot), ProtocolJson.Options, statusCode: 202);
    }

    private static UserEndpointView ToView(UserEndpointSnapshot u) => new(
        u.UserEndpointId,
        u.Phase.ToString().ToLowerInvariant(),
        u.Reason,
        u.PendingTasks,
        System.Text.Json.Nodes.JsonNode.Parse(u.Spec?.UserConfigJson ?? "{}")!.AsObject(),
        u.LastHeartbeat,
        u.NextAttemptAt,
        u.FailedStarts);

    private static async Task<IResult> GetTask(HttpContext http, string taskId, IGrainFactory grains, [Microsoft.AspNetCore.Mvc.FromServices] TaskStore tasks)
    {
        var caller = Caller(http);
        var id = ParseId(taskId, "task");
        var records = await TaskViews.ReadAsync(grains, tasks, [id], caller.IdentityId);
        var record = records.Count > 0 ? records[0] : throw ProblemException.NotFound($"task {id} not found");
        var views = await TaskViews.BuildAsync(grains, tasks, [record], caller.IdentityId);
        return Results.Json(views[0], ProtocolJson.Options);
    }

    private static async Task<IResult> GetTaskStatus(HttpContext http, IGrainFactory grains, [Microsoft.AspNetCore.Mvc.FromServices] TaskStore tasks, CancellationToken ct)
    {
        var caller = Caller(http);
        var body = await ApiBody.Read<TaskStatusRequest>(http.Request, ct);
        if (body.TaskIds.Count > MaxStatusIds)
        {
            throw ProblemException.BadRequest($"task_ids: at most {MaxStatusIds} per request");
        }

        var ids = body.TaskIds.Distinct().ToList();
        if (body.FinishedOnly)
        {
            return Results.Json(await FinishedAsync(grains, tasks, ids, caller.IdentityId, body.WaitMs, ct), ProtocolJson.Options);
        }

        if (body.WaitMs is not null)
        {
            throw ProblemException.BadRequest("wait_ms: only with finished_only");
        }

        var records = await TaskViews.ReadAsync(grains, tasks, ids, caller.IdentityId);
        var views = await TaskViews.BuildAsync(grains, tasks, records, caller.IdentityId);
        var found = views.ToDictionary(v => v.TaskId);
        var missing = ids.Where(id => !found.ContainsKey(id)).ToList();
        return Results.Json(new TaskStatusResponse(found, missing), ProtocolJson.Options);
    }

    /// <summary>
    /// The finished tasks among <paramref name="ids"/> and the unknown ids; with a wait, answered as soon as there is
    /// one of either. An end this silo commits wakes the wait at once; an end committed by another node is seen at the
    /// next look, every <see cref="LongPollRecheck"/>.
    /// </summary>
    private static async Task<TaskStatusResponse> FinishedAsync(
        IGrainFactory grains, TaskStore tasks, List<Guid> ids, string identityId, int? waitMs, CancellationToken ct)
    {
        if (waitMs is < 0 or > MaxWaitMs)
        {
            throw ProblemException.BadRequest($"wait_ms: must be between 0 and {MaxWaitMs}");
        }

        var deadline = DateTimeOffset.UtcNow.AddMilliseconds(waitMs ?? 0);
        while (true)
        {
            using var watch = tasks.Ends.Start(ids);
            var (ended, missing) = await TaskViews.ReadFinishedAsync(grains, tasks, ids, identityId);
            var left = deadline - DateTimeOffset.UtcNow;
            if (ended.Count > 0 || missing.Count > 0 || left <= TimeSpan.Zero)
            {
                return new TaskStatusResponse(ended.ToDictionary(v => v.TaskId), missing);
            }

            if (await watch.WaitAsync(left < LongPollRecheck ? left : LongPollRecheck, ct)
                && watch.SignalledRecords() is { } records && records.All(r => string.Equals(r.OwnerIdentityId, identityId, StringComparison.OrdinalIgnoreCase)))
            {
                // Woken by ends committed here, each with its record: answered from them, without reading back what
                // was just written (~0.1-0.2 ms of every long poll). The unknown ids were answered before the wait.
                return new TaskStatusResponse(records.Select(r => TaskViews.ToView(r, r.History)).ToDictionary(v => v.TaskId), []);
            }
        }
    }

    internal static CallerIdentity Caller(HttpContext http) =>
        TokenAuthentication.ToCaller(http.User)
        ?? throw new ProblemException(401, "Unauthorized", "bearer token lacks the sub and preferred_username claims");

    internal static Guid ParseId(string text, string what) =>
        Guid.TryParse(text, out var id) ? id : throw ProblemException.NotFound($"{what} {text} not found");

    private static FunctionView ToView(FunctionDefinition d) => new(
        d.FunctionId,
        d.Kind == FunctionKindModel.Python ? FunctionKind.Python : FunctionKind.Shell,
        d.Name,
        d.Command,
        d.Arguments,
        d.WalltimeSeconds,
        d.RegisteredAt,
        d.Entry,
        d.Source);
}
