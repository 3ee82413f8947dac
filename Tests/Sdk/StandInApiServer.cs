using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Mep.Protocol;
using Mep.Protocol.Api;
using Mep.Protocol.Messages;
using Mep.Protocol.Python;
using Mep.Protocol.Shell;
using Mep.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.Sdk;

/// <summary>
/// A stand-in for the silo's REST API, for SDK and CLI tests while the real one is built elsewhere: real Kestrel on
/// 127.0.0.1, real HTTP and JSON, the v1 paths and bodies of Protocol/Api/ApiModels.cs, in-memory state. It runs nothing:
/// a task "finishes" once it has been asked about in <see cref="PollsUntilDone"/> status requests, with a result made
/// from its arguments (stdout = "name=value ..."; argument <c>fail</c> makes it fail, <c>rc</c> sets the return code).
/// A Python task returns <c>{"args": [...], "kwargs": {...}}</c>, or raises RuntimeError when a keyword argument
/// <c>raise</c> is given (its value is the message).
/// It counts requests so tests can see batching and polling.
/// </summary>
internal sealed class StandInApiServer : IAsyncDisposable
{
    public const string Token = "stand-in-token";
    public const string ForbiddenEndpoint = "forbidden-endpoint";
    public const string Identity = "alice@example.org";

    private readonly WebApplication app;
    private readonly ConcurrentDictionary<Guid, FunctionView> functions = new();
    private readonly ConcurrentDictionary<Guid, StoredTask> tasks = new();
    private readonly ConcurrentQueue<SubmitRequest> submits = new();
    private readonly ConcurrentQueue<DateTimeOffset> statusTimes = new();
    private int statusRequests;
    private int taskGets;
    private int failNextStatus;
    private volatile bool tokenRevoked;

    private StandInApiServer(WebApplication app) => this.app = app;

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Status requests that must mention a task before it finishes.</summary>
    public int PollsUntilDone { get; set; } = 2;

    /// <summary>While set, tasks never finish.</summary>
    public bool Hold { get; set; }

    public int SubmitRequests => submits.Count;

    public IReadOnlyList<SubmitRequest> Submits => submits.ToArray();

    public int StatusRequests => Volatile.Read(ref statusRequests);

    public IReadOnlyList<DateTimeOffset> StatusTimes => statusTimes.ToArray();

    public int TaskGets => Volatile.Read(ref taskGets);

    public bool Knows(Guid taskId) => tasks.ContainsKey(taskId);

    /// <summary>The next <paramref name="count"/> status requests answer 503, as a restarting silo would.</summary>
    public void FailNextStatusRequests(int count) => Volatile.Write(ref failNextStatus, count);

    /// <summary>From now on the token is refused with 401, as an expired one would be.</summary>
    public void RevokeToken() => tokenRevoked = true;

    public FunctionView AddFunction(string command)
    {
        var view = new FunctionView(Guid.NewGuid(), FunctionKind.Shell, "f", command, ShellCommand.Placeholders(command), 60, DateTimeOffset.UtcNow);
        functions[view.FunctionId] = view;
        return view;
    }

    public static async Task<StandInApiServer> StartAsync()
    {
        var builder = LoopbackWebHost.CreateBuilder();
        var server = new StandInApiServer(builder.Build());
        server.MapRoutes();
        await server.app.StartAsync();
        server.BaseAddress = new Uri(server.app.BoundAddress() + "/");
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }

    private void MapRoutes()
    {
        app.Use(async (context, next) =>
        {
            if (tokenRevoked || context.Request.Headers.Authorization.ToString() != "Bearer " + Token)
            {
                // Like the JWT bearer handler: no body, the cause in the challenge.
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\", error_description=\"The token expired\"";
                return;
            }

            await next(context);
        });

        app.MapPost("/v1/functions", async (HttpRequest request) =>
        {
            var body = await Read<RegisterShellFunctionRequest>(request);
            var view = new FunctionView(Guid.NewGuid(), FunctionKind.Shell, body.Name ?? "shell", body.Command,
                ShellCommand.Placeholders(body.Command), body.WalltimeSeconds ?? 60, DateTimeOffset.UtcNow);
            functions[view.FunctionId] = view;
            return Json(view, StatusCodes.Status201Created);
        });

        app.MapPost("/v1/functions/python", async (HttpRequest request) =>
        {
            var body = await Read<RegisterPythonFunctionRequest>(request);
            if (PythonSource.SourceProblem(body.Source) is { } problem)
            {
                return Problem(400, "Bad request", $"source: {problem}");
            }

            var view = new FunctionView(Guid.NewGuid(), FunctionKind.Python, body.Name ?? body.Entry, "", [],
                body.WalltimeSeconds ?? 60, DateTimeOffset.UtcNow, body.Entry, body.Source);
            functions[view.FunctionId] = view;
            return Json(view, StatusCodes.Status201Created);
        });

        app.MapGet("/v1/functions/{id:guid}", (Guid id) =>
            functions.TryGetValue(id, out var view) ? Json(view) : Problem(404, "Not Found", $"function {id} does not exist"));

        app.MapPost("/v1/endpoints/{endpointId}/submit", async (string endpointId, HttpRequest request) =>
        {
            var body = await Read<SubmitRequest>(request);
            submits.Enqueue(body);
            if (endpointId == ForbiddenEndpoint)
            {
                return Problem(403, "Forbidden", $"identity {Identity} does not map to a local account on endpoint {endpointId}");
            }

            if (body.Tasks.FirstOrDefault(t => !functions.ContainsKey(t.FunctionId)) is { } unknown)
            {
                return Problem(404, "Not Found", $"function {unknown.FunctionId} does not exist");
            }

            var uep = UserEndpointId(endpointId, body.UserEndpointConfig);
            var ids = new List<Guid>();
            foreach (var submission in body.Tasks)
            {
                var task = new StoredTask(submission, new TaskView(
                    Guid.NewGuid(), submission.FunctionId, endpointId, uep, TaskStatus.Pending, DateTimeOffset.UtcNow));
                tasks[task.View.TaskId] = task;
                ids.Add(task.View.TaskId);
            }

            return Json(new SubmitResponse(uep, ids), StatusCodes.Status202Accepted);
        });

        app.MapGet("/v1/endpoints/{endpointId}", (string endpointId) =>
        {
            var ueps = tasks.Values.GroupBy(t => t.View.UserEndpointId).Select(g => new UserEndpointView(
                g.Key, "running", null, g.Count(t => t.View.Status == TaskStatus.Pending), new JsonObject(), DateTimeOffset.UtcNow));
            return Json(new EndpointView(endpointId, "Stand-in endpoint", "alice", ueps.ToList()));
        });

        app.MapGet("/v1/tasks/{id:guid}", (Guid id) =>
        {
            Interlocked.Increment(ref taskGets);
            return tasks.TryGetValue(id, out var task) ? Json(task.View) : Problem(404, "Not Found", $"task {id} does not exist");
        });

        app.MapPost("/v1/tasks/status", async (HttpRequest request) =>
        {
            var body = await Read<TaskStatusRequest>(request);
            Interlocked.Increment(ref statusRequests);
            statusTimes.Enqueue(DateTimeOffset.UtcNow);
            if (Interlocked.Decrement(ref failNextStatus) >= 0)
            {
                return Problem(503, "Service Unavailable", "the silo is starting");
            }

            var found = new Dictionary<Guid, TaskView>();
            var notFound = new List<Guid>();
            foreach (var id in body.TaskIds)
            {
                if (tasks.TryGetValue(id, out var task))
                {
                    found[id] = task.Observe(this);
                }
                else
                {
                    notFound.Add(id);
                }
            }

            return Json(new TaskStatusResponse(found, notFound));
        });
    }

    private static string UserEndpointId(string endpointId, JsonObject? config) =>
        $"uep-{endpointId}-{(config?.ToJsonString() ?? "{}").GetHashCode():x8}";

    private static async Task<T> Read<T>(HttpRequest request)
    {
        // Strict protocol dialect, as the silo reads it: a misspelt member from the SDK fails the test.
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer);
        return ProtocolJson.Deserialize<T>(buffer.ToArray());
    }

    private static IResult Json<T>(T value, int status = StatusCodes.Status200OK) =>
        Results.Text(ProtocolJson.Serialize(value), "application/json", null, status);

    private static IResult Problem(int status, string title, string detail) =>
        // traceId is an extension member the real API may add; clients must tolerate it.
        Results.Text(new JsonObject
        {
            ["type"] = "about:blank", ["title"] = title, ["status"] = status, ["detail"] = detail, ["traceId"] = "00-stand-in",
        }.ToJsonString(), "application/problem+json", null, status);

    private sealed class StoredTask(TaskSubmission submission, TaskView view)
    {
        private readonly Lock gate = new();
        private int observed;

        public TaskView View { get; private set; } = view;

        public TaskView Observe(StandInApiServer server)
        {
            lock (gate)
            {
                if (View.Status == TaskStatus.Pending && !server.Hold && ++observed >= server.PollsUntilDone)
                {
                    View = Finish();
                }

                return View;
            }
        }

        private TaskView Finish()
        {
            if (submission.PositionalArgs is not null || submission.KeywordArgs is not null)
            {
                return FinishPython();
            }

            var args = submission.Args ?? new Dictionary<string, string>();
            var failed = args.ContainsKey("fail");
            var rc = args.TryGetValue("rc", out var code) ? int.Parse(code) : 0;
            var result = failed
                ? new TaskResultView(null, "", "", false, "walltime of 1s exceeded", "stand-in", "alice", 1001)
                : new TaskResultView(rc, string.Join(" ", args.OrderBy(a => a.Key).Select(a => $"{a.Key}={a.Value}")) + "\n", "", false, null, "stand-in", "alice", 1001);
            return View with { Status = failed ? TaskStatus.Failed : TaskStatus.Success, CompletedAt = DateTimeOffset.UtcNow, Result = result };
        }

        private TaskView FinishPython()
        {
            var kwargs = submission.KeywordArgs ?? [];
            var now = DateTimeOffset.UtcNow;
            var ended = View with { CompletedAt = now, Placement = new TaskPlacementView("0.0", "stand-in", null, 1) };
            if (kwargs["raise"] is { } message)
            {
                var raised = new PythonException("builtins.RuntimeError", message.GetValue<string>(), $"Traceback (most recent call last):\nRuntimeError: {message}\n");
                return ended with
                {
                    Status = TaskStatus.Failed,
                    State = TaskLifecycleState.Failed,
                    Transitions = [new(TaskLifecycleState.Received, View.SubmittedAt), new(TaskLifecycleState.Failed, now)],
                    Result = new TaskResultView(null, "", "", false, null, "stand-in", "alice", 1001, Exception: raised),
                };
            }

            var value = new JsonObject { ["args"] = (submission.PositionalArgs ?? []).DeepClone(), ["kwargs"] = kwargs.DeepClone() };
            return ended with
            {
                Status = TaskStatus.Success,
                State = TaskLifecycleState.Success,
                Transitions = [new(TaskLifecycleState.Received, View.SubmittedAt), new(TaskLifecycleState.Success, now)],
                Result = new TaskResultView(null, "", "", false, null, "stand-in", "alice", 1001, ReturnValue: value),
            };
        }
    }
}
