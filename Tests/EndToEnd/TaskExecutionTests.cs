using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Mep.Protocol;
using Mep.Protocol.Api;
using Mep.Protocol.Messages;
using Mep.Tests.Infrastructure;
using RabbitMQ.Client;
using Mep.Tests.Endpoint;
using Xunit;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.EndToEnd;

/// <summary>
/// Task execution with the local provider through the real site (issue 6): workers started by the UEP as the user,
/// worker_init and endpoint_setup/teardown, walltime, result size, output lines, a worker killed mid-task.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class TaskExecutionTests(SiteFixture site)
{
    private static Task<SubmitResponse> SubmitAsync(HttpClient client, JsonObject config, params TaskSubmission[] tasks) =>
        SubmitAsync(client, SiteFixture.EngineEndpointId, config, tasks);

    private static async Task<SubmitResponse> SubmitAsync(HttpClient client, string endpointId, JsonObject config, params TaskSubmission[] tasks) =>
        await SiteApi.PostAsync<SubmitResponse>(client, $"v1/endpoints/{endpointId}/submit", new SubmitRequest(tasks, config));

    /// <summary>A config no other test uses, so that the test gets a UEP of its own.</summary>
    private static JsonObject Config(params (string Key, JsonNode? Value)[] values)
    {
        var config = new JsonObject { ["test"] = Guid.NewGuid().ToString() };
        foreach (var (key, value) in values)
        {
            config[key] = value;
        }

        return config;
    }

    [Fact]
    public async Task Worker_init_and_endpoint_setup_run_before_tasks_and_teardown_after_the_last()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var marker = $"mep-setup-{Guid.NewGuid():N}";
        var function = await SiteApi.RegisterAsync(alice, "cat \"$HOME/" + marker + ".setup\"; echo \"$FROM_INIT\"; id -un");
        var config = Config(
            ("worker_init", "export FROM_INIT=initialised"),
            ("setup", $"echo set-up > \"$HOME/{marker}.setup\""),
            ("teardown", $"echo torn-down > \"$HOME/{marker}.teardown\""));

        var receipt = await SubmitAsync(alice, SiteFixture.QuickIdleEndpointId, config, new TaskSubmission(function));
        var done = await SiteApi.WaitForResultAsync(site, alice, receipt.TaskIds[0]);

        Assert.Equal(ApiTaskStatus.Success, done.Status);
        Assert.Equal($"set-up\ninitialised\n{site.Alice.Name}\n", done.Result!.Stdout);
        // The UEP goes idle a few seconds later, and runs the teardown before it exits.
        var teardown = Path.Combine(site.Alice.Home, marker + ".teardown");
        await Poll.UntilTrue(() => Task.FromResult(File.Exists(teardown)), SiteApi.ResultTimeout, () => $"endpoint_teardown never ran\n{site.Diagnostics()}");
        Assert.Equal("torn-down\n", await File.ReadAllTextAsync(teardown));
    }

    [Fact]
    public async Task A_task_past_its_walltime_is_killed_with_its_process_group_and_fails_saying_so()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var pidFile = $"mep-walltime-{Guid.NewGuid():N}.pid";
        var function = await SiteApi.RegisterAsync(alice, $"sleep 600 & echo $! > \"$HOME/{pidFile}\"; wait");

        var receipt = await SubmitAsync(alice, Config(), new TaskSubmission(function, WalltimeSeconds: 2));
        var done = await SiteApi.WaitForResultAsync(site, alice, receipt.TaskIds[0]);

        Assert.Equal(ApiTaskStatus.Failed, done.Status);
        Assert.Contains("walltime of 2 s exceeded", done.Result!.Error);
        var child = int.Parse((await File.ReadAllTextAsync(Path.Combine(site.Alice.Home, pidFile))).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(await Poll.TryUntilAsync(() => !Directory.Exists($"/proc/{child}"), TimeSpan.FromSeconds(30)),
            "the task's background child survived the walltime kill");
    }

    [Fact]
    public async Task Output_is_kept_to_the_last_lines_and_a_result_over_the_size_limit_fails()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var lines = await SiteApi.RegisterAsync(alice, "seq 1 100");
        var large = await SiteApi.RegisterAsync(alice, $"head -c {SiteFixture.EngineResultSizeLimit * 2} /dev/zero | tr '\\0' x");

        var receipt = await SubmitAsync(alice, Config(), new TaskSubmission(lines), new TaskSubmission(large));
        var kept = await SiteApi.WaitForResultAsync(site, alice, receipt.TaskIds[0]);
        var refused = await SiteApi.WaitForResultAsync(site, alice, receipt.TaskIds[1]);

        Assert.Equal(ApiTaskStatus.Success, kept.Status);
        Assert.Equal("96\n97\n98\n99\n100\n", kept.Result!.Stdout);
        Assert.True(kept.Result.OutputTruncated);
        Assert.Equal(ApiTaskStatus.Failed, refused.Status);
        Assert.Contains($"exceeds the endpoint's limit of {SiteFixture.EngineResultSizeLimit} bytes", refused.Result!.Error);
    }

    [Fact]
    public async Task A_worker_killed_mid_task_does_not_lose_the_task()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var marker = Path.Combine(site.Alice.Home, $"mep-kill-{Guid.NewGuid():N}");
        // The first run signals it started and then waits long; the second run finds the mark and finishes at once.
        var function = await SiteApi.RegisterAsync(alice, $"if [ -e {marker} ]; then echo second run; else touch {marker}; sleep 600; fi");
        var config = Config(("workers", 1), ("max_blocks", 1));

        var receipt = await SubmitAsync(alice, config, new TaskSubmission(function));
        await Poll.UntilTrue(() => Task.FromResult(File.Exists(marker)), SiteApi.ResultTimeout, () => $"the task never started\n{site.Diagnostics()}");
        var workers = WorkerPids(site.Alice.Name, receipt.UserEndpointId);
        Assert.Single(workers);
        using (var worker = Process.GetProcessById(workers[0]))
        {
            worker.Kill();
        }

        var done = await SiteApi.WaitForResultAsync(site, alice, receipt.TaskIds[0]);
        Assert.Equal(ApiTaskStatus.Success, done.Status);
        Assert.Equal("second run\n", done.Result!.Stdout);
        // Run again by a new worker after the broker redelivered it; recorded once, as the second attempt.
        Assert.Equal(2, done.Placement!.Attempt);
        Assert.Single(done.Transitions, t => t.State == TaskLifecycleState.Success);
    }

    private static async Task<Guid> RegisterPythonAsync(HttpClient client, string source, string entry) =>
        (await SiteApi.PostAsync<FunctionView>(client, "v1/functions/python", new RegisterPythonFunctionRequest(source, entry))).FunctionId;

    [Fact]
    public async Task Two_hundred_shell_and_python_tasks_across_four_workers_all_come_back_right()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        // expr exits 1 when it prints 0: the task's status is the echo's.
        var shell = await SiteApi.RegisterAsync(alice, "echo $(expr {n} \\* 2)");
        var python = await RegisterPythonAsync(alice, "import os\n\ndef double(x, *, plus=0):\n    return {'v': x * 2 + plus, 'pid': os.getpid()}\n", "double");
        var tasks = Enumerable.Range(0, 200).Select(i => i % 2 == 0
            ? new TaskSubmission(shell, new Dictionary<string, string> { ["n"] = i.ToString(CultureInfo.InvariantCulture) })
            : new TaskSubmission(python, PositionalArgs: [i], KeywordArgs: new JsonObject { ["plus"] = 1 })).ToArray();

        var receipt = await SubmitAsync(alice, Config(("workers", 4)), tasks);
        var pythonPids = new HashSet<int>();
        for (var i = 0; i < tasks.Length; i++)
        {
            var done = await SiteApi.WaitForResultAsync(site, alice, receipt.TaskIds[i]);
            Assert.True(done.Status == ApiTaskStatus.Success, $"task {i}: {done.Result?.Error} {done.Result?.Stderr}");
            Assert.Equal(TaskLifecycleState.Success, done.State);
            if (i % 2 == 0)
            {
                Assert.Equal($"{i * 2}\n", done.Result!.Stdout);
            }
            else
            {
                Assert.Equal(i * 2 + 1, (int)done.Result!.ReturnValue!["v"]!);
                pythonPids.Add((int)done.Result.ReturnValue["pid"]!);
            }

            Assert.Equal(site.Alice.Name, done.Result.Username);
        }

        // Long-lived interpreters, reused across tasks: at most one per task slot of the one worker.
        Assert.InRange(pythonPids.Count, 1, 4);
    }

    [Fact]
    public async Task A_python_exception_comes_back_with_its_type_message_and_traceback()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var function = await RegisterPythonAsync(alice, "def check(x):\n    if x > 2:\n        raise ValueError(f'too big: {x}')\n    return x\n", "check");

        var receipt = await SubmitAsync(alice, Config(), new TaskSubmission(function, PositionalArgs: [3]));
        var done = await SiteApi.WaitForResultAsync(site, alice, receipt.TaskIds[0]);

        Assert.Equal(ApiTaskStatus.Failed, done.Status);
        Assert.Equal("ValueError", done.Result!.Exception!.Type);
        Assert.Equal("too big: 3", done.Result.Exception.Message);
        Assert.Contains("in check", done.Result.Exception.Traceback);
        Assert.Contains("raise ValueError(f'too big: {x}')", done.Result.Exception.Traceback);
        Assert.Equal("ValueError: too big: 3", done.Result.Error);
    }

    [Fact]
    public async Task A_python_result_over_the_size_limit_fails_saying_so()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var function = await RegisterPythonAsync(alice, "def big(n):\n    return 'x' * n\n", "big");

        var receipt = await SubmitAsync(alice, Config(), new TaskSubmission(function, PositionalArgs: [SiteFixture.EngineResultSizeLimit * 2]));
        var done = await SiteApi.WaitForResultAsync(site, alice, receipt.TaskIds[0]);

        Assert.Equal(ApiTaskStatus.Failed, done.Status);
        Assert.Contains($"limit of {SiteFixture.EngineResultSizeLimit} bytes", done.Result!.Error);
        Assert.Null(done.Result.ReturnValue);
    }

    [Fact]
    public async Task A_task_reports_its_states_in_order_with_its_worker()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var function = await SiteApi.RegisterAsync(alice, "true");

        var receipt = await SubmitAsync(alice, Config(), new TaskSubmission(function));
        var done = await SiteApi.WaitForResultAsync(site, alice, receipt.TaskIds[0]);

        var states = done.Transitions.Select(t => t.State).ToList();
        Assert.Equal(TaskLifecycleState.Received, states[0]);
        Assert.Equal(TaskLifecycleState.Success, states[^1]);
        Assert.True(states.IndexOf(TaskLifecycleState.WaitingForNodes) < states.IndexOf(TaskLifecycleState.Running),
            $"states out of order: {string.Join(", ", states)}");
        Assert.Equal(done.Transitions.OrderBy(t => t.At).Select(t => t.State), states);
        Assert.Null(done.Placement!.JobId);
        Assert.Equal(1, done.Placement.Attempt);
    }

    /// <summary>
    /// The UEP checks the allow-list again: a task that reaches its queue without the silo's check (published here
    /// straight to the queue with the broker's admin account) fails in the worker instead of running.
    /// </summary>
    [Fact]
    public async Task A_function_outside_the_allow_list_is_refused_in_the_user_endpoint()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var allowed = await SiteApi.RegisterAsync(alice, "true");
        var forbidden = Guid.NewGuid();
        var receipt = await SubmitAsync(alice, Config(("fns", new JsonArray(allowed.ToString()))), new TaskSubmission(allowed));
        Assert.Equal(ApiTaskStatus.Success, (await SiteApi.WaitForResultAsync(site, alice, receipt.TaskIds[0])).Status);

        var options = site.BrokerOptions();
        var factory = new ConnectionFactory
        {
            HostName = site.Broker.Host,
            Port = site.Broker.AmqpPort,
            VirtualHost = options.VirtualHost,
            UserName = site.Broker.AdminUser,
            Password = site.Broker.AdminPassword,
            Ssl = site.Broker.Ssl(),
        };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        // A copy of the UEP's events, next to the cluster's own partition queue.
        var events = (await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;
        await channel.QueueBindAsync(events, BrokerNames.EventsExchange, options.EventsRoutingKey(receipt.UserEndpointId));

        var task = new TaskMessage(Guid.NewGuid(), forbidden, FunctionKind.Shell, "touch $HOME/forbidden-ran", new Dictionary<string, string>(), 60, 4096);
        await channel.BasicPublishAsync("", BrokerNames.TaskQueue(receipt.UserEndpointId), mandatory: true,
            new BasicProperties { Persistent = true, MessageId = task.TaskId.ToString() }, ProtocolJson.SerializeToUtf8(task));

        var result = await Poll.Until(async () =>
            {
                while (await channel.BasicGetAsync(events, autoAck: true) is { } got)
                {
                    var ev = ProtocolJson.Deserialize<EndpointEvent>(got.Body.Span);
                    if (ev.AllResults().FirstOrDefault(r => r.TaskId == task.TaskId) is { } result)
                    {
                        return result;
                    }
                }

                return null;
            },
            SiteApi.ResultTimeout, () => $"no result for the forbidden task\n{site.Diagnostics()}");
        Assert.Equal(TaskState.Failed, result.State);
        Assert.Contains($"function {forbidden} is not allowed", result.Error);
        Assert.False(File.Exists(Path.Combine(site.Alice.Home, "forbidden-ran")));
    }

    [Fact]
    public async Task A_task_that_kills_its_worker_every_time_fails_after_three_deaths_instead_of_looping()
    {
        using var alice_ = site.ClientFor(site.AliceIdentity);
        // The task's shell is the worker's child: it kills the worker; the UEP starts a new one, which gets the task again.
        var function = await SiteApi.RegisterAsync(alice_, "kill -9 $PPID; sleep 5");

        var receipt = await SubmitAsync(alice_, Config(("workers", 1)), new TaskSubmission(function));
        var done = await SiteApi.WaitForResultAsync(site, alice_, receipt.TaskIds[0]);

        Assert.Equal(ApiTaskStatus.Failed, done.Status);
        Assert.Contains("its worker died 3 times while running it", done.Result!.Error);
    }

    /// <summary>The worker processes of one UEP: <c>mep-endpoint worker</c> with that UEP's document, owned by the user.</summary>
    internal static List<int> WorkerPids(string user, string uepId)
    {
        var psi = new ProcessStartInfo("pgrep", ["-u", user, "-f", $"worker --document \\S*/{uepId}/worker.json"]) { RedirectStandardOutput = true };
        using var pgrep = Process.Start(psi)!;
        var output = pgrep.StandardOutput.ReadToEnd();
        pgrep.WaitForExit();
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();
    }
}
