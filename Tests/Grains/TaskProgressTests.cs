using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains.Broker;
using Mep.Protocol;
using Mep.Protocol.Api;
using Mep.Protocol.Messages;
using Mep.Sdk;
using Mep.Tests.Cli;
using Mep.Tests.EndToEnd;
using Mep.Tests.Sdk;
using Mep.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using Xunit;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;
using State = Mep.Protocol.Api.TaskLifecycleState;

namespace Mep.Tests.Grains;

/// <summary>
/// Task states, Python calls and results on the cluster's side: the real API, grains, storage, broker and launcher,
/// with a user endpoint that starts for real but whose workers are played by the test (<see cref="UepStandIn"/>), so
/// each state can be seen before the next event is sent. Read through the API, the SDK and the CLI.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class TaskProgressTests(SiteFixture site) : IAsyncLifetime
{
    private const int MaxArgsPerTask = 4096;
    private const int MaxArgsPerSubmit = 10_000;
    private static readonly TimeSpan StateTimeout = TimeSpan.FromMinutes(1);

    private readonly string _suffix = Guid.NewGuid().ToString("N")[..6];
    private readonly string _endpointId = Guid.NewGuid().ToString();
    private string _dir = "";
    private StandInUepLauncher? _launcher;
    private InProcessTestCluster? _cluster;
    private ClusterApi? _api;

    private string Identity => $"alice-{_suffix}@progress.test";

    public async Task InitializeAsync()
    {
        // Under /var/tmp and world-traversable: the stand-in UEP runs as the test user and reads its script here.
        _dir = Path.Combine("/var/tmp", $"mep-progress-{_suffix}");
        Directory.CreateDirectory(_dir, (UnixFileMode)0b111_101_101);
        var endpointDir = Path.Combine(_dir, "endpoint");
        TestEndpoint.Write(endpointDir, _endpointId, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(1),
            new Dictionary<string, string> { [Identity] = site.Alice.Name });
        _launcher = await StandInUepLauncher.StartAsync(_dir);
        try
        {
            _cluster = await GrainTestCluster.StartAsync(site, _suffix, _dir, endpointDir, _launcher.Socket, o =>
            {
                o.MaxArgsBytesPerTask = MaxArgsPerTask;
                o.MaxArgsBytesPerSubmit = MaxArgsPerSubmit;
            });
            _api = await ClusterApi.StartAsync(_cluster, site.Tokens, _dir);
        }
        catch
        {
            // xUnit does not dispose a test class whose initialisation failed: stop the launcher process here.
            await DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        if (_api is not null)
        {
            await _api.DisposeAsync();
        }

        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }

        if (_launcher is not null)
        {
            await _launcher.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_python_task_carries_its_call_and_goes_through_every_state_to_its_return_value()
    {
        using var client = Client();
        const string source = "def scale(values, factor=1):\n    return {'sum': sum(values) * factor}\n";
        var function = await client.RegisterFunctionAsync(PythonFunction.FromSource(source, "scale") with { WalltimeSeconds = 30 });
        Assert.Equal((FunctionKind.Python, "scale", "scale", source, ""), (function.Kind, function.Name, function.Entry, function.Source, function.Command));

        var receipt = await client.SubmitAsync(_endpointId, new SubmitRequest([
            new TaskSubmission(function.FunctionId, PositionalArgs: [new JsonArray(1, 2, 3)], KeywordArgs: new JsonObject { ["factor"] = 3 })]));
        var taskId = receipt.TaskIds[0];

        // Handed to the running user endpoint's queue; no worker has it yet.
        var waiting = await ViewAsync(client, taskId, v => v.State == State.WaitingForNodes);
        Assert.Equal([State.Received, State.WaitingForEndpoint, State.WaitingForNodes], States(waiting));
        AssertChronological(waiting);
        Assert.Equal(ApiTaskStatus.Pending, waiting.Status);
        Assert.Null(waiting.Placement);

        // The task message a worker gets: the call by value, shell fields empty.
        await using var uep = await StandInAsync(receipt.UserEndpointId);
        var message = await uep.TakeTaskAsync();
        Assert.Equal((taskId, function.FunctionId, FunctionKind.Python, "", 30.0), (message.TaskId, message.FunctionId, message.Kind, message.Command, message.WalltimeSeconds));
        Assert.Empty(message.Args);
        Assert.Equal((source, "scale"), (message.Python!.Source, message.Python.Entry));
        Assert.Equal("[[1,2,3]]", message.Python.Args.ToJsonString());
        Assert.Equal("""{"factor":3}""", message.Python.Kwargs.ToJsonString());

        var started = DateTimeOffset.UtcNow;
        await uep.StartedAsync(taskId, started, "3.0", "node-a7", "4242", attempt: 1);
        var running = await ViewAsync(client, taskId, v => v.State == State.Running);
        Assert.Equal(new TaskPlacementView("3.0", "node-a7", "4242", 1), running.Placement);
        Assert.Equal(started, running.Transitions[^1].At);

        var completed = started.AddSeconds(1.5);
        await uep.ResultAsync(new TaskResultMessage(taskId, TaskState.Success, null, "printed\n", "", false, null, started, completed,
            "node-a7", site.Alice.Uid, site.Alice.Name, ReturnValue: """{"sum": 18}"""));
        var done = await ViewAsync(client, taskId, v => v.Status != ApiTaskStatus.Pending);
        Assert.Equal((ApiTaskStatus.Success, State.Success, completed), (done.Status, done.State, done.CompletedAt));
        Assert.Equal([State.Received, State.WaitingForEndpoint, State.WaitingForNodes, State.Running, State.Success], States(done));
        AssertChronological(done);
        Assert.Equal(waiting.Transitions, done.Transitions.Take(3));
        Assert.Equal(completed, done.Transitions[^1].At);
        Assert.Equal("""{"sum":18}""", done.Result!.ReturnValue!.ToJsonString());
        Assert.Null(done.Result.Exception);
        Assert.Equal(running.Placement, done.Placement);

        // The task grain holds the whole timeline now; the user endpoint has let the task go.
        var uepGrain = _cluster!.Client.GetGrain<IUserEndpointGrain>(receipt.UserEndpointId);
        Assert.Empty(await uepGrain.GetTaskHistories([taskId]));
        var record = await _cluster.Client.GetGrain<ITaskGrain>(taskId).Get(Mep.Protocol.Auth.MepClaims.IdentityIdFor(Identity).ToString());
        Assert.Equal(5, record!.History!.Transitions.Count);

        var shown = await CliRunner.RunAsync(CliEnvironment(), "task", "get", taskId.ToString());
        Assert.True(shown.ExitCode == 0, shown.ToString());
        Assert.Matches(@"state\s+success", shown.Stdout);
        Assert.Matches(@"return value\s+\{""sum"":18\}", shown.Stdout);
        Assert.Matches(@"worker\s+3\.0 on node-a7, job 4242, attempt 1", shown.Stdout);
        AssertTimelineRows(shown.Stdout, "received", "waiting-for-endpoint", "waiting-for-nodes", "running", "success");
        Assert.Matches(@"success\s+\S+ \S+\s+\+1\.500s", shown.Stdout);

        var json = await CliRunner.RunAsync(CliEnvironment(), "task", "get", taskId.ToString(), "--json");
        Assert.Contains("\"state\":\"success\"", json.Stdout);
        Assert.Contains("{\"state\":\"waiting-for-endpoint\",\"at\":", json.Stdout);
        Assert.Contains("\"return_value\":{\"sum\":18}", json.Stdout);
        Assert.Equal(done.Transitions, ProtocolJson.Deserialize<TaskView>(json.Stdout.Trim()).Transitions);
    }

    [Fact]
    public async Task A_python_exception_reaches_the_executor_and_the_cli_with_its_traceback()
    {
        using var client = Client();
        var function = await client.RegisterFunctionAsync(PythonFunction.FromSource("def boom(x):\n    raise ValueError(x)\n", "boom"));
        // Shut down without waiting: a failure below must show as itself, not as a shutdown that waited in vain.
        var executor = new Executor(client, _endpointId);
        await using var stop = new Stopper(executor);
        var submitted = executor.SubmitPythonTracked(function.FunctionId, ["bad input"]);
        var taskId = await submitted.Accepted.WaitAsync(StateTimeout);

        await using var uep = await StandInAsync(executor.UserEndpointId!);
        var message = await uep.TakeTaskAsync();
        Assert.Equal((taskId, "[\"bad input\"]", "{}"), (message.TaskId, message.Python!.Args.ToJsonString(), message.Python.Kwargs.ToJsonString()));
        var started = DateTimeOffset.UtcNow;
        const string traceback = "Traceback (most recent call last):\n  File \"<mep-function>\", line 2, in boom\nValueError: bad input\n";
        await uep.StartedAsync(taskId, started, "0.0", "login1", null, attempt: 1);
        await uep.ResultAsync(new TaskResultMessage(taskId, TaskState.Failed, null, "", "", false, null, started, started.AddMilliseconds(20),
            "login1", site.Alice.Uid, site.Alice.Name, Exception: new PythonException("builtins.ValueError", "bad input", traceback)));

        var failure = await Assert.ThrowsAsync<TaskFailedException>(() => submitted.Result.WaitAsync(StateTimeout));
        Assert.Equal(new PythonException("builtins.ValueError", "bad input", traceback), failure.PythonException);
        Assert.Equal($"task {taskId} failed: builtins.ValueError: bad input", failure.Message);
        Assert.Equal([State.Received, State.WaitingForEndpoint, State.WaitingForNodes, State.Running, State.Failed], States(failure.Task));
        Assert.Equal(new TaskPlacementView("0.0", "login1", null, 1), failure.Task.Placement);
        Assert.Null(failure.Task.Result!.ReturnValue);

        var shown = await CliRunner.RunAsync(CliEnvironment(), "task", "get", taskId.ToString());
        Assert.Matches(@"exception\s+builtins\.ValueError: bad input", shown.Stdout);
        Assert.Contains("line 2, in boom", shown.Stdout);
        Assert.Matches(@"worker\s+0\.0 on login1, attempt 1", shown.Stdout);
        AssertTimelineRows(shown.Stdout, "received", "waiting-for-endpoint", "waiting-for-nodes", "running", "failed");
    }

    [Fact]
    public async Task A_return_value_that_is_not_json_fails_the_task_instead_of_reaching_readers()
    {
        using var client = Client();
        var function = await client.RegisterFunctionAsync(PythonFunction.FromSource("def f():\n    return 1\n", "f"));
        var receipt = await client.SubmitAsync(_endpointId, new SubmitRequest([new TaskSubmission(function.FunctionId, PositionalArgs: [])]));
        await using var uep = await StandInAsync(receipt.UserEndpointId);
        var taskId = (await uep.TakeTaskAsync()).TaskId;

        var now = DateTimeOffset.UtcNow;
        await uep.ResultAsync(new TaskResultMessage(taskId, TaskState.Success, null, "", "", false, null, now, now,
            "node", site.Alice.Uid, site.Alice.Name, ReturnValue: "{not json"));

        var done = await ViewAsync(client, taskId, v => v.Status != ApiTaskStatus.Pending);
        Assert.Equal((ApiTaskStatus.Failed, State.Failed), (done.Status, done.State));
        Assert.Equal("the endpoint reported a return value that is not JSON", done.Result!.Error);
        Assert.Null(done.Result.ReturnValue);
    }

    [Fact]
    public async Task Results_sent_together_in_one_event_each_reach_their_task_with_their_own_start()
    {
        using var client = Client();
        var function = await client.RegisterShellFunctionAsync("echo {n}");
        var receipt = await client.SubmitAsync(_endpointId, new SubmitRequest([
            new TaskSubmission(function.FunctionId, new Dictionary<string, string> { ["n"] = "1" }),
            new TaskSubmission(function.FunctionId, new Dictionary<string, string> { ["n"] = "2" })]));
        await using var uep = await StandInAsync(receipt.UserEndpointId);
        var first = (await uep.TakeTaskAsync()).TaskId;
        var second = (await uep.TakeTaskAsync()).TaskId;

        // As a busy worker sends them: two short tasks, each start travelling with its result, in one message.
        var at = DateTimeOffset.UtcNow;
        TaskResultMessage Result(Guid id, string stdout, int offset) => new(id, TaskState.Success, 0, stdout, "", false, null,
            at.AddMilliseconds(offset), at.AddMilliseconds(offset + 1), "node-a", site.Alice.Uid, site.Alice.Name,
            Started: new TaskStartedMessage(id, at.AddMilliseconds(offset), "node-a", "0.0", null, 1));
        await uep.PublishAsync(new EndpointEvent(EndpointEventKind.Results, receipt.UserEndpointId, at,
            Results: [Result(first, "1\n", 0), Result(second, "2\n", 5)]));

        var one = await ViewAsync(client, first, v => v.Status != ApiTaskStatus.Pending);
        var two = await ViewAsync(client, second, v => v.Status != ApiTaskStatus.Pending);
        Assert.Equal(("1\n", "2\n"), (one.Result!.Stdout, two.Result!.Stdout));
        Assert.Equal([State.Received, State.WaitingForEndpoint, State.WaitingForNodes, State.Running, State.Success], States(one));
        Assert.Equal(at.AddMilliseconds(5), two.Transitions.Single(t => t.State == State.Running).At);
    }

    [Fact]
    public async Task Short_tasks_go_several_to_a_message_only_to_a_uep_that_said_it_takes_bundles()
    {
        using var client = Client();
        var function = await client.RegisterShellFunctionAsync("echo {n}");
        SubmitRequest Tasks(int count) => new(Enumerable.Range(0, count).Select(i =>
            new TaskSubmission(function.FunctionId, new Dictionary<string, string> { ["n"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture) })).ToList());
        var receipt = await client.SubmitAsync(_endpointId, Tasks(1));
        var uepId = receipt.UserEndpointId;
        await using var uep = await StandInAsync(uepId);
        var at = DateTimeOffset.UtcNow;
        TaskResultMessage Ran(Guid id, TimeSpan run) => new(id, TaskState.Success, 0, "", "", false, null,
            at, at + run, "node-a", site.Alice.Uid, site.Alice.Name);
        async Task<List<(string? Type, List<TaskMessage> Tasks)>> TakeAsync(int tasks)
        {
            var messages = new List<(string? Type, List<TaskMessage> Tasks)>();
            while (messages.Sum(m => m.Tasks.Count) < tasks)
            {
                messages.Add(await uep.TakeMessageAsync());
            }

            return messages;
        }

        // 1. No run time known yet: one task, one message. It ran for 1 ms.
        var first = Assert.Single(Assert.Single(await TakeAsync(1)).Tasks);
        await uep.ResultAsync(Ran(first.TaskId, TimeSpan.FromMilliseconds(1)));
        await ViewAsync(client, first.TaskId, v => v.Status != ApiTaskStatus.Pending);

        // 2. Short tasks, but this process never said it reads bundles (a UEP older than them): one per message.
        var alone = await TakeAsync((await client.SubmitAsync(_endpointId, Tasks(4))).TaskIds.Count);
        Assert.Equal(4, alone.Count);
        Assert.All(alone, m => Assert.Null(m.Type));

        // 3. It says it does (its Started event, handled before the result behind it): 5 ms of work per message at
        // 1 ms a task makes bundles of five.
        await uep.PublishAsync(new EndpointEvent(EndpointEventKind.Started, uepId, DateTimeOffset.UtcNow, TakesTaskBundles: true));
        await uep.ResultAsync(Ran(alone[0].Tasks[0].TaskId, TimeSpan.FromMilliseconds(1)));
        await ViewAsync(client, alone[0].Tasks[0].TaskId, v => v.Status != ApiTaskStatus.Pending);
        var submitted = (await client.SubmitAsync(_endpointId, Tasks(10))).TaskIds;
        var bundled = await TakeAsync(submitted.Count);
        Assert.Equal([5, 5], bundled.Select(m => m.Tasks.Count));
        Assert.All(bundled, m => Assert.Equal(BrokerNames.TaskBundleType, m.Type));
        Assert.Equal(submitted.Order(), bundled.SelectMany(m => m.Tasks).Select(t => t.TaskId).Order());

        // 4. A long run stops the bundling at once: one per message again.
        await uep.ResultAsync(Ran(bundled[0].Tasks[0].TaskId, TimeSpan.FromSeconds(1)));
        await ViewAsync(client, bundled[0].Tasks[0].TaskId, v => v.Status != ApiTaskStatus.Pending);
        var after = await TakeAsync((await client.SubmitAsync(_endpointId, Tasks(3))).TaskIds.Count);
        Assert.Equal(3, after.Count);
        Assert.All(after, m => Assert.Null(m.Type));
    }

    [Fact]
    public async Task A_repeated_start_changes_nothing_and_a_second_attempt_shows_as_a_new_run()
    {
        using var client = Client();
        var function = await client.RegisterShellFunctionAsync("echo {n}");
        var receipt = await client.SubmitAsync(_endpointId, new SubmitRequest([new TaskSubmission(function.FunctionId, new Dictionary<string, string> { ["n"] = "5" })]));
        var taskId = receipt.TaskIds[0];
        await using var uep = await StandInAsync(receipt.UserEndpointId);
        var message = await uep.TakeTaskAsync();
        Assert.Equal((FunctionKind.Shell, "echo {n}", "5"), (message.Kind, message.Command, message.Args["n"]));
        Assert.Null(message.Python);

        var first = DateTimeOffset.UtcNow;
        await uep.StartedAsync(taskId, first, "0.0", "node-a", "100", attempt: 1);
        await uep.StartedAsync(taskId, first, "0.0", "node-a", "100", attempt: 1); // the same event delivered twice
        var second = first.AddSeconds(10);
        await uep.StartedAsync(taskId, second, "1.0", "node-b", "101", attempt: 2); // the first worker died
        // Events of one user endpoint are handled in order: when the second run shows, the repeat has been handled.
        var rerun = await ViewAsync(client, taskId, v => v.Placement?.Attempt == 2);
        Assert.Equal([State.Received, State.WaitingForEndpoint, State.WaitingForNodes, State.Running, State.Running], States(rerun));
        Assert.Equal([first, second], rerun.Transitions.Skip(3).Select(t => t.At));
        Assert.Equal(new TaskPlacementView("1.0", "node-b", "101", 2), rerun.Placement);

        await uep.ResultAsync(new TaskResultMessage(taskId, TaskState.Success, 0, "5\n", "", false, null, second, second.AddSeconds(1),
            "node-b", site.Alice.Uid, site.Alice.Name));
        var done = await ViewAsync(client, taskId, v => v.Status != ApiTaskStatus.Pending);
        Assert.Equal([State.Received, State.WaitingForEndpoint, State.WaitingForNodes, State.Running, State.Running, State.Success], States(done));
        Assert.Equal(rerun.Placement, done.Placement);
        Assert.Equal("5\n", done.Result!.Stdout);
        Assert.Null(done.Result.ReturnValue);
    }

    [Fact]
    public async Task A_long_poll_answers_with_the_task_that_finished_while_it_waited_and_leaves_pending_ones_out()
    {
        using var client = Client();
        var function = await client.RegisterShellFunctionAsync("echo {n}");
        var receipt = await client.SubmitAsync(_endpointId, new SubmitRequest([
            new TaskSubmission(function.FunctionId, new Dictionary<string, string> { ["n"] = "1" }),
            new TaskSubmission(function.FunctionId, new Dictionary<string, string> { ["n"] = "2" })]));
        var (first, second) = (receipt.TaskIds[0], receipt.TaskIds[1]);
        var unknown = Guid.NewGuid();
        await using var uep = await StandInAsync(receipt.UserEndpointId);
        var message = await uep.TakeTaskAsync();
        Assert.Equal(first, message.TaskId);

        // Nothing finished yet: a poll without a wait answers at once, with neither task (pending ones are left out).
        var now = await client.WaitForFinishedAsync([first, second], TimeSpan.Zero);
        Assert.Empty(now.Tasks);
        Assert.Empty(now.NotFound);

        // A long poll is on its way when the first task ends: it answers with that task alone.
        var poll = client.WaitForFinishedAsync([first, second], TimeSpan.FromSeconds(30));
        var at = DateTimeOffset.UtcNow;
        await uep.ResultAsync(new TaskResultMessage(first, TaskState.Success, 0, "1\n", "", false, null, at, at, "node-a", site.Alice.Uid, site.Alice.Name));
        var answer = await poll;
        var view = Assert.Single(answer.Tasks).Value;
        Assert.Equal((first, ApiTaskStatus.Success, "1\n"), (view.TaskId, view.Status, view.Result!.Stdout));
        Assert.Equal(State.Success, view.State);

        // Answered from the end as the grain committed it, not read back from the store: still the very view a read
        // of the task gives (outcome and timeline alike).
        var stored = await client.GetTaskAsync(first);
        Assert.Equal(
            System.Text.Json.JsonSerializer.Serialize(stored, Mep.Protocol.ProtocolJson.Options),
            System.Text.Json.JsonSerializer.Serialize(view, Mep.Protocol.ProtocolJson.Options));

        // An unknown id (or another user's task) answers a wait at once, as not found.
        var missing = await client.WaitForFinishedAsync([second, unknown], TimeSpan.FromSeconds(30));
        Assert.Equal([unknown], missing.NotFound);
        Assert.Empty(missing.Tasks);

        // A wait without finished_only, or beyond the limit, is refused naming the field.
        using var http = new HttpClient { BaseAddress = _api!.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new("Bearer", site.Tokens.Issue(Identity));
        foreach (var body in new[] { $$"""{"task_ids":["{{second}}"],"wait_ms":100}""", $$"""{"task_ids":["{{second}}"],"finished_only":true,"wait_ms":30001}""" })
        {
            using var response = await http.PostAsync("v1/tasks/status", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains("wait_ms", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Queued_tasks_wait_for_the_endpoint_again_while_it_restarts()
    {
        using var client = Client();
        var function = await client.RegisterShellFunctionAsync("true");
        var receipt = await client.SubmitAsync(_endpointId, new SubmitRequest([new TaskSubmission(function.FunctionId)]));
        var taskId = receipt.TaskIds[0];
        await ViewAsync(client, taskId, v => v.State == State.WaitingForNodes);

        // The user endpoint process dies: the launcher reports it, and the grain starts a new one.
        var uepGrain = _cluster!.Client.GetGrain<IUserEndpointGrain>(receipt.UserEndpointId);
        var pid = (await uepGrain.GetSnapshot()).Pid!.Value;
        TestUser.Run("kill", ["-KILL", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)], allowFailure: false);

        var back = await ViewAsync(client, taskId, v => v.Transitions.Count == 5);
        Assert.Equal([State.Received, State.WaitingForEndpoint, State.WaitingForNodes, State.WaitingForEndpoint, State.WaitingForNodes], States(back));
        AssertChronological(back);
        var snapshot = await uepGrain.GetSnapshot();
        Assert.NotEqual(pid, snapshot.Pid);

        // The task stayed in the queue the new process serves: it is there once, not published again.
        await using var uep = await StandInAsync(receipt.UserEndpointId);
        Assert.Equal(taskId, (await uep.TakeTaskAsync()).TaskId);
        Assert.Null(await uep.TryTakeTaskAsync());
    }

    [Fact]
    public async Task Arguments_beyond_the_size_limits_are_refused_naming_the_field()
    {
        using var client = Client();
        var python = await client.RegisterFunctionAsync(PythonFunction.FromSource("def f(*a, **k):\n    return None\n", "f"));
        var shell = await client.RegisterShellFunctionAsync("echo {text}");
        var big = new string('x', MaxArgsPerTask);

        var pythonTooBig = await RefusedAsync(client, new TaskSubmission(python.FunctionId, PositionalArgs: [big]));
        Assert.Equal($"tasks[0].positional_args and keyword_args: {big.Length + 6} bytes of arguments; at most {MaxArgsPerTask} per task", pythonTooBig);

        var shellTooBig = await RefusedAsync(client,
            new TaskSubmission(shell.FunctionId, new Dictionary<string, string> { ["text"] = "ok" }),
            new TaskSubmission(shell.FunctionId, new Dictionary<string, string> { ["text"] = big }));
        Assert.Equal($"tasks[1].args: {big.Length + 4} bytes of arguments; at most {MaxArgsPerTask} per task", shellTooBig);

        // Each within the task limit, together beyond the request's.
        var third = new string('y', MaxArgsPerSubmit / 3);
        var tooMany = await RefusedAsync(client, Enumerable.Repeat(new TaskSubmission(python.FunctionId, KeywordArgs: new JsonObject { ["s"] = third }), 4).ToArray());
        Assert.Equal($"tasks: the arguments of this request exceed {MaxArgsPerSubmit} bytes in all (at tasks[2]); submit fewer tasks per request", tooMany);
    }

    private sealed class Stopper(Executor executor) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await executor.ShutdownAsync(waitForResults: false);
            await executor.DisposeAsync();
        }
    }

    /// <summary>The detail of the 400 the submission gets.</summary>
    private async Task<string> RefusedAsync(MepClient client, params TaskSubmission[] tasks)
    {
        var refused = await Assert.ThrowsAsync<MepApiException>(() => client.SubmitAsync(_endpointId, new SubmitRequest(tasks)));
        Assert.Equal(400, refused.Status);
        return refused.Detail;
    }

    private MepClient Client() => new(_api!.BaseAddress, site.Tokens.Issue(Identity));

    private Dictionary<string, string> CliEnvironment() => new()
    {
        ["MEP_URL"] = _api!.BaseAddress.AbsoluteUri,
        ["MEP_TOKEN"] = site.Tokens.Issue(Identity),
    };

    /// <summary>
    /// Logs in as the user endpoint's broker user once the grain has started it: the grain mints the credentials just
    /// before the start, and two mints of one broker user at once make one of them fail.
    /// </summary>
    private async Task<UepStandIn> StandInAsync(string uepId)
    {
        var grain = _cluster!.Client.GetGrain<IUserEndpointGrain>(uepId);
        await Poll.UntilTrue(
            async () => (await grain.GetSnapshot()).Phase is UserEndpointPhase.Starting or UserEndpointPhase.Running,
            StateTimeout,
            () => $"user endpoint {uepId} never started");
        var services = _cluster!.GetSiloServiceProvider(_cluster.Silos[0].SiloAddress);
        return await UepStandIn.ConnectAsync(
            services.GetRequiredService<BrokerAdmin>(),
            services.GetRequiredService<Microsoft.Extensions.Options.IOptions<BrokerOptions>>().Value,
            uepId);
    }

    private static Task<TaskView> ViewAsync(MepClient client, Guid taskId, Func<TaskView, bool> until)
    {
        TaskView? last = null;
        return Poll.Until(
            async () => until(last = await client.GetTaskAsync(taskId)) ? last : null,
            StateTimeout,
            () => $"task {taskId} is {last?.State} after {string.Join(" → ", last?.Transitions.Select(t => t.State) ?? [])}");
    }

    private static List<State> States(TaskView view) => view.Transitions.Select(t => t.State).ToList();

    private static void AssertChronological(TaskView view)
    {
        for (var i = 1; i < view.Transitions.Count; i++)
        {
            Assert.True(view.Transitions[i - 1].At <= view.Transitions[i].At, $"transition {i} goes back in time: {string.Join(", ", view.Transitions)}");
        }

        Assert.Equal(view.Transitions[^1].State, view.State);
    }

    /// <summary>The CLI's timeline: one row per state, in this order, each with its time.</summary>
    private static void AssertTimelineRows(string output, params string[] states)
    {
        var rows = Regex.Matches(output, @"^\s*([a-z-]+)\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z", RegexOptions.Multiline)
            .Select(m => m.Groups[1].Value)
            .ToList();
        Assert.Equal(states, rows);
    }
}
