using System.Globalization;
using System.Runtime.Versioning;
using System.Text.Json.Nodes;
using Mep.Endpoint;
using Mep.Endpoint.Worker;
using Mep.Protocol;
using Mep.Protocol.Launcher;
using Mep.Protocol.Messages;
using Mep.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Mep.Tests.Endpoint;

/// <summary>
/// Real <c>mep-endpoint worker</c> processes against a real RabbitMQ node, with a broker user limited like the ones the
/// silo mints, running real shell and python3 tasks.
/// </summary>
[Collection(RabbitMqCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed class WorkerBrokerTests(RabbitMqNode node, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private readonly string _home = Directory.CreateTempSubdirectory("mep-worker-home-").FullName;
    private readonly List<WorkerProcess> _workers = [];
    private WorkerBroker _broker = null!;

    private string RunDirectory => Path.Combine(_home, ".mep", "endpoints", _broker.UepId);

    private UepDirectory Uep => new(RunDirectory);

    public async Task InitializeAsync()
    {
        _broker = await WorkerBroker.CreateAsync(node);
        Directory.CreateDirectory(RunDirectory);
        File.WriteAllText(Uep.ManagerAlivePath, "");
    }

    public async Task DisposeAsync()
    {
        foreach (var worker in _workers)
        {
            output.WriteLine($"--- worker pid {worker.Pid} ---\n{worker.Stderr}");
            worker.Dispose();
        }

        await _broker.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    [Fact]
    public async Task Runs_shell_and_python_tasks_reporting_each_start_once_before_or_with_the_result()
    {
        var hostile = "'; touch pwned; '";
        var shell = Shell("printf '%s' {x}; echo; id -u", new() { ["x"] = hostile });
        var python = Python("""
            def add(a, b, *, scale=1, tag=None):
                print("adding")
                return {"sum": (a + b) * scale, "tag": tag, "list": [a, b]}
            """, "add", [2, 3], new JsonObject { ["scale"] = 10, ["tag"] = "t" });
        var fails = Shell("echo partial; exit 7");
        // Runs well past the delay after which a start is reported on its own.
        var slow = Shell("sleep 1; echo slow");
        await _broker.PublishAsync(slow);
        await _broker.PublishAsync(shell);
        await _broker.PublishAsync(shell); // a duplicate delivery of the same task: runs once
        await _broker.PublishAsync(python);
        await _broker.PublishAsync(fails);

        var worker = Start(Document(maxTasks: 2));

        var s = await ResultAsync(shell, worker);
        var p = await ResultAsync(python, worker);
        var f = await ResultAsync(fails, worker);
        Assert.Equal("slow\n", (await ResultAsync(slow, worker)).Stdout);
        Assert.True(s.State == TaskState.Success, s.Error);
        Assert.Equal($"{hostile}\n{Native.GetUid()}\n", s.Stdout);
        Assert.False(File.Exists(Path.Combine(_home, "pwned")));
        Assert.True(p.State == TaskState.Success, p.Error);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"sum": 50, "tag": "t", "list": [2, 3]}"""), JsonNode.Parse(p.ReturnValue!)), p.ReturnValue);
        Assert.Equal("adding\n", p.Stdout);
        Assert.Equal(TaskState.Failed, f.State);
        Assert.Equal(7, f.ReturnCode);
        Assert.Equal("partial\n", f.Stdout);

        await StopAsync(worker);
        var events = _broker.Events;
        Assert.All(events, e =>
        {
            Assert.Equal(_broker.UepUser, e.Properties.UserId);
            Assert.Equal(_broker.UepId, e.Event.UepId);
            Assert.Equal(worker.Pid, e.Event.Pid);
            Assert.Contains(e.Event.Kind, new[] { EndpointEventKind.TaskStarted, EndpointEventKind.Result, EndpointEventKind.Results });
        });
        bool About(EndpointEvent e, Guid taskId) => e.Started?.TaskId == taskId || e.AllResults().Any(r => r.TaskId == taskId);
        foreach (var task in new[] { shell, python, fails, slow })
        {
            var forTask = events.Where(e => About(e.Event, task.TaskId)).ToList();
            // Reported once: on its own before the result, or (a short task) inside the result.
            var result = forTask[^1].Event.AllResults().Single(r => r.TaskId == task.TaskId);
            Assert.True(forTask[^1].Event.IsResult());
            var started = forTask.Count == 2 ? forTask[0].Event.Started! : result.Started!;
            Assert.True(forTask.Count == 1 || forTask[0].Event.Kind == EndpointEventKind.TaskStarted);
            Assert.True(forTask.Count == 1 || result.Started is null, "a start reported on its own is not repeated in the result");
            Assert.Equal(task.TaskId, started.TaskId);
            Assert.Equal(1, started.Attempt);
            Assert.Equal("b1.0", started.WorkerId);
            Assert.Null(started.JobId);
            Assert.Equal(System.Net.Dns.GetHostName(), started.Hostname);
            // A result alone is named by its task; results sent together share a message id of their own.
            Assert.Equal(forTask[^1].Event.Kind == EndpointEventKind.Result, task.TaskId.ToString() == forTask[^1].Properties.MessageId);
        }

        // The slow task's start went before its end; the others ended within the delay, their starts with them.
        Assert.Equal(2, events.Count(e => About(e.Event, slow.TaskId)));

        Assert.Equal(0u, await _broker.ReadyCountAsync());
        Assert.Empty(RunsUnderWay());
        Assert.DoesNotContain(_broker.Password, worker.Stderr);
    }

    [Fact]
    public async Task Python_exceptions_come_back_with_their_traceback_and_one_slot_reuses_its_python()
    {
        const string source = """
            import os
            def check(n):
                if n < 0:
                    raise ValueError(f"negative: {n}")
                return os.getpid()
            """;
        var first = Python(source, "check", [1]);
        var raises = Python(source, "check", [-5]);
        var second = Python(source, "check", [2]);
        await _broker.PublishAsync(first);
        await _broker.PublishAsync(raises);
        await _broker.PublishAsync(second);

        var worker = Start(Document(maxTasks: 1));

        var a = await ResultAsync(first, worker);
        var e = await ResultAsync(raises, worker);
        var b = await ResultAsync(second, worker);
        Assert.Equal(TaskState.Success, a.State);
        Assert.Equal(a.ReturnValue, b.ReturnValue);
        Assert.NotEqual(worker.Pid.ToString(CultureInfo.InvariantCulture), a.ReturnValue);
        Assert.Equal(TaskState.Failed, e.State);
        Assert.Equal("ValueError: negative: -5", e.Error);
        Assert.Equal(new PythonException("ValueError", "negative: -5", e.Exception!.Traceback), e.Exception);
        Assert.Contains(", in check\n", e.Exception.Traceback);
        Assert.Contains("raise ValueError(f\"negative: {n}\")", e.Exception.Traceback);
    }

    [Fact]
    public async Task Walltime_kills_shell_and_python_tasks_with_the_reason()
    {
        var shell = Shell("echo started; sleep 60", walltime: 1);
        var python = Python("import time\ndef f():\n    time.sleep(60)\n", "f", walltime: 1);
        await _broker.PublishAsync(shell);
        await _broker.PublishAsync(python);

        var worker = Start(Document(maxTasks: 2));

        var s = await ResultAsync(shell, worker);
        var p = await ResultAsync(python, worker);
        Assert.Equal(TaskState.Failed, s.State);
        Assert.Equal("walltime of 1 s exceeded", s.Error);
        Assert.Equal("started\n", s.Stdout);
        Assert.Equal(TaskState.Failed, p.State);
        Assert.Equal("walltime of 1 s exceeded", p.Error);
        Assert.Null(p.Exception);
    }

    [Fact]
    public async Task Output_keeps_its_last_lines_and_an_oversized_result_fails_saying_so()
    {
        var lines = Shell("seq 1 100; seq 201 210 >&2");
        var printed = Python("def f():\n    for i in range(1, 11):\n        print(i)\n    return 'ok'\n", "f");
        var bigShell = Shell("head -c 3000 /dev/zero | tr '\\0' x");
        var bigPython = Python("def f():\n    return 'y' * 3000\n", "f");
        foreach (var task in new[] { lines, printed, bigShell, bigPython })
        {
            await _broker.PublishAsync(task);
        }

        var worker = Start(Document(maxTasks: 2, limits: new TaskLimits(ResultSizeLimitBytes: 2000, OutputLines: 3, MaxWorkerDeaths: 3)));

        var l = await ResultAsync(lines, worker);
        Assert.Equal(TaskState.Success, l.State);
        Assert.Equal("98\n99\n100\n", l.Stdout);
        Assert.Equal("208\n209\n210\n", l.Stderr);
        Assert.True(l.OutputTruncated);
        var p = await ResultAsync(printed, worker);
        Assert.Equal("8\n9\n10\n", p.Stdout);
        Assert.Equal("\"ok\"", p.ReturnValue);
        var bs = await ResultAsync(bigShell, worker);
        Assert.Equal(TaskState.Failed, bs.State);
        Assert.Equal("result of 3000 bytes exceeds the endpoint's limit of 2000 bytes", bs.Error);
        Assert.Equal("", bs.Stdout);
        var bp = await ResultAsync(bigPython, worker);
        Assert.Equal(TaskState.Failed, bp.State);
        Assert.Equal("result of 3002 bytes exceeds the endpoint's limit of 2000 bytes", bp.Error);
        Assert.Null(bp.ReturnValue);
    }

    [Fact]
    public async Task A_function_not_on_the_allow_list_is_refused_without_running()
    {
        var allowed = Shell("echo allowed");
        var refused = Shell("touch ran");
        await _broker.PublishAsync(refused);
        await _broker.PublishAsync(allowed);

        var worker = Start(Document(maxTasks: 2, allowed: [allowed.FunctionId]));

        var r = await ResultAsync(refused, worker);
        Assert.Equal(TaskState.Failed, r.State);
        Assert.Equal($"function {refused.FunctionId} is not allowed on this endpoint", r.Error);
        Assert.Equal("allowed\n", (await ResultAsync(allowed, worker)).Stdout);
        Assert.False(File.Exists(Path.Combine(_home, "ran")));
        Assert.Empty(_broker.StartsOf(refused.TaskId));
    }

    [Fact]
    public async Task Runs_at_most_max_tasks_at_once()
    {
        // Each task marks itself running, reports how many are, and holds until the test creates "go".
        var tasks = Enumerable.Range(0, 5).Select(i => Shell(
            "mkdir -p running; touch running/{t}; ls running | wc -l; while [ ! -e go ]; do sleep 0.05; done; rm running/{t}",
            new() { ["t"] = i.ToString(CultureInfo.InvariantCulture) })).ToList();
        foreach (var task in tasks)
        {
            await _broker.PublishAsync(task);
        }

        var worker = Start(Document(maxTasks: 2));
        var running = Path.Combine(_home, "running");

        await Poll.UntilTrue(async () => Directory.Exists(running) && Directory.GetFiles(running).Length == 2 && await _broker.ReadyCountAsync() == 3,
            Deadline, () => worker.Stderr);
        await Poll.UntilTrue(() => Task.FromResult(ReadStatus().Running == 2), Deadline, () => worker.Stderr);
        File.WriteAllText(Path.Combine(_home, "go"), "");
        foreach (var task in tasks)
        {
            var r = await ResultAsync(task, worker);
            Assert.Equal(TaskState.Success, r.State);
            Assert.InRange(int.Parse(r.Stdout.Trim(), CultureInfo.InvariantCulture), 1, 2);
        }
    }

    [Fact]
    public async Task A_worker_holds_its_prefetch_capacity_beyond_its_slots_and_runs_those_tasks_as_slots_free()
    {
        var tasks = Enumerable.Range(0, 6).Select(i => Shell(
            "mkdir -p running; touch running/{t}; while [ ! -e go ]; do sleep 0.05; done; rm running/{t}",
            new() { ["t"] = i.ToString(CultureInfo.InvariantCulture) })).ToList();
        foreach (var task in tasks)
        {
            await _broker.PublishAsync(task);
        }

        // Two slots and one task more in hand: two run, one waits in the worker, three stay in the queue.
        var worker = Start(Document(maxTasks: 2) with { Prefetch = 3 });
        var running = Path.Combine(_home, "running");
        await Poll.UntilTrue(async () => Directory.Exists(running) && Directory.GetFiles(running).Length == 2 && await _broker.ReadyCountAsync() == 3,
            Deadline, () => worker.Stderr);
        File.WriteAllText(Path.Combine(_home, "go"), "");
        foreach (var task in tasks)
        {
            Assert.Equal(TaskState.Success, (await ResultAsync(task, worker)).State);
        }

        Assert.Equal(0u, await _broker.ReadyCountAsync());
    }

    [Fact]
    public async Task A_bundle_runs_its_tasks_in_the_slots_and_is_acked_once_when_the_last_is_done()
    {
        var held = Enumerable.Range(0, 4).Select(i => Shell(
            "mkdir -p running; touch running/{t}; while [ ! -e go ]; do sleep 0.05; done; echo {t}",
            new() { ["t"] = i.ToString(CultureInfo.InvariantCulture) })).ToList();
        var quick = Shell("echo quick");
        var after = Shell("echo after");
        await _broker.PublishBundleAsync([.. held, quick]);
        await _broker.PublishAsync(after);

        // Two slots, and a prefetch of one message: the bundle is all the worker holds until every task of it is done.
        var worker = Start(Document(maxTasks: 2) with { Prefetch = 1 });
        var running = Path.Combine(_home, "running");
        await Poll.UntilTrue(async () => Directory.Exists(running) && Directory.GetFiles(running).Length == 2 && await _broker.ReadyCountAsync() == 1,
            Deadline, () => worker.Stderr);
        File.WriteAllText(Path.Combine(_home, "go"), "");
        foreach (var (task, i) in held.Select((t, i) => (t, i)))
        {
            var result = await ResultAsync(task, worker);
            Assert.Equal((TaskState.Success, $"{i}\n"), (result.State, result.Stdout));
        }

        Assert.Equal("quick\n", (await ResultAsync(quick, worker)).Stdout);
        // The next message comes only once the bundle is acked, and nothing is left in the queue or the worker.
        Assert.Equal("after\n", (await ResultAsync(after, worker)).Stdout);
        Assert.Equal(0u, await _broker.ReadyCountAsync());
        Assert.All(held.Append(quick).Append(after), t => Assert.Single(_broker.ResultsFor(t.TaskId)));
    }

    [Fact]
    public async Task A_bundle_a_stopping_worker_hands_back_comes_back_whole_and_its_finished_task_runs_again()
    {
        var quick = Shell("echo x >> quick-runs");
        var slow = Shell("while [ ! -e go ]; do sleep 0.05; done; echo slow");
        await _broker.PublishBundleAsync([quick, slow]);
        var worker = Start(Document(maxTasks: 2));
        await ResultAsync(quick, worker);
        await Poll.UntilTrue(() => Task.FromResult(TryReadStatus() is { Running: 1 }), Deadline, () => worker.Stderr);

        Assert.Equal(0, await StopAsync(worker));
        // Handed back whole: one message, both tasks in it. Losing the slow one would be worse than running the quick
        // one twice (the silo keeps its first result).
        Assert.Equal(1u, await _broker.ReadyCountAsync());
        File.WriteAllText(Path.Combine(_home, "go"), "");
        var again = Start(Document(maxTasks: 2));
        Assert.Equal("slow\n", (await ResultAsync(slow, again)).Stdout);
        await Poll.UntilTrue(() => Task.FromResult(_broker.ResultsFor(quick.TaskId).Count == 2), Deadline, () => again.Stderr);
        Assert.Equal(["x", "x"], File.ReadAllLines(Path.Combine(_home, "quick-runs")));
    }

    [Fact]
    public async Task An_unreadable_bundle_is_rejected_and_the_worker_goes_on()
    {
        await _broker.PublishRawAsync(BrokerNames.TaskBundleType, "[{\"not\": \"a task\"}]"u8.ToArray());
        var next = Shell("echo next");
        await _broker.PublishAsync(next);
        var worker = Start(Document(maxTasks: 1));

        Assert.Equal("next\n", (await ResultAsync(next, worker)).Stdout);
        Assert.Equal(0u, await _broker.ReadyCountAsync());
        Assert.Contains("rejected a task bundle that cannot be read", worker.Stderr);
    }

    [Theory]
    [InlineData("shell")]
    [InlineData("python")]
    public async Task A_worker_killed_mid_task_loses_nothing_and_the_task_completes_once_elsewhere(string kind)
    {
        var task = kind == "shell"
            ? Shell("echo $$ >> starts; while [ ! -e go ]; do sleep 0.05; done; echo done")
            : Python("""
                import os, time
                def f():
                    with open("starts", "a") as out:
                        out.write(f"{os.getpid()}\n")
                    while not os.path.exists("go"):
                        time.sleep(0.05)
                    print("done")
                """, "f");
        await _broker.PublishAsync(task);
        var a = Start(Document(maxTasks: 1), block: "a");
        var b = Start(Document(maxTasks: 1), block: "b");

        await Poll.UntilTrue(() => Task.FromResult(_broker.StartsOf(task.TaskId).Count > 0), Deadline, () => a.Stderr + b.Stderr);
        var (started, pid) = _broker.StartsOf(task.TaskId)[0];
        var (victim, survivor) = pid == a.Pid ? (a, b) : (b, a);
        Assert.Equal(1, started.Attempt);
        // Mid-task: the function itself is running.
        var starts = Path.Combine(_home, "starts");
        await Poll.UntilTrue(() => Task.FromResult(File.Exists(starts) && File.ReadAllText(starts).EndsWith('\n')), Deadline, () => victim.Stderr);
        Assert.Equal(0, Native.Kill(victim.Pid, Native.SIGKILL));
        if (kind == "python")
        {
            // The dead worker's python notices its parent is gone and kills itself with its process group.
            var orphan = int.Parse(File.ReadAllLines(starts)[0], CultureInfo.InvariantCulture);
            await Poll.UntilTrue(() => Task.FromResult(ProcessProbe.IsDead(orphan)), TimeSpan.FromSeconds(10), () => $"python {orphan} outlived its worker");
        }

        await Poll.UntilTrue(() => Task.FromResult(_broker.StartsOf(task.TaskId).Count == 2), Deadline, () => survivor.Stderr);
        var second = _broker.StartsOf(task.TaskId)[1];
        Assert.Equal(survivor.Pid, second.Pid);
        Assert.Equal(2, second.Started.Attempt);
        Assert.Equal(survivor == a ? "a.0" : "b.0", second.Started.WorkerId);
        File.WriteAllText(Path.Combine(_home, "go"), "");
        var result = await ResultAsync(task, survivor);
        Assert.Equal("done\n", result.Stdout);

        // The victim's record of its run is what made the survivor's run the second.
        Assert.Equal([(task.TaskId, 1)], AttemptStore.ReadRecords(AttemptsFileOf(victim)));
        await StopAsync(survivor);
        Assert.Single(_broker.ResultsFor(task.TaskId));
        Assert.Equal(2, File.ReadAllLines(Path.Combine(_home, "starts")).Length);
        // A worker that stops cleanly has no run under way: its file goes with it.
        Assert.False(File.Exists(AttemptsFileOf(survivor)));
        Assert.Equal(0u, await _broker.ReadyCountAsync());
    }

    [Theory]
    [InlineData("records")]
    [InlineData("count file")]
    public async Task A_task_whose_workers_died_max_times_fails_without_running(string left)
    {
        var task = Shell("touch ran");
        Directory.CreateDirectory(Uep.AttemptsPath);
        if (left == "records")
        {
            // As two dead workers left them: each was running the task (runs 1 and 2) when it died.
            File.WriteAllText(Path.Combine(Uep.AttemptsPath, "running.x.0.node1.101"), Record(Guid.NewGuid(), 1) + Record(task.TaskId, 1));
            File.WriteAllText(Path.Combine(Uep.AttemptsPath, "running.y.0.node2.102"), Record(task.TaskId, 2));
        }
        else
        {
            // As workers before the records kept the count: a file per task.
            File.WriteAllText(Path.Combine(Uep.AttemptsPath, task.TaskId.ToString()), "2\n");
        }

        // A task whose worker died comes back redelivered; only a redelivery is checked against the records.
        await _broker.PublishRedeliveredAsync(task);

        var worker = Start(Document(maxTasks: 1, limits: TaskLimits.Default with { MaxWorkerDeaths = 2 }));

        var r = await ResultAsync(task, worker);
        Assert.Equal(TaskState.Failed, r.State);
        Assert.Equal("its worker died 2 times while running it", r.Error);
        Assert.False(File.Exists(Path.Combine(_home, "ran")));
        Assert.Empty(_broker.StartsOf(task.TaskId));
        await Poll.UntilTrue(() => Task.FromResult(!File.Exists(Path.Combine(Uep.AttemptsPath, task.TaskId.ToString()))), Deadline, () => worker.Stderr);
    }

    [Fact]
    public async Task A_first_delivery_runs_whatever_records_say()
    {
        // Only a delivery the broker marks as redelivered can follow a worker's death: a first one is run 1 without
        // reading the records (a stale record of a task id the silo published again does not count against it).
        var task = Shell("touch ran");
        Directory.CreateDirectory(Uep.AttemptsPath);
        File.WriteAllText(Path.Combine(Uep.AttemptsPath, "running.x.0.node1.101"), Record(task.TaskId, 5));
        await _broker.PublishAsync(task);

        var worker = Start(Document(maxTasks: 1, limits: TaskLimits.Default with { MaxWorkerDeaths = 2 }));

        var r = await ResultAsync(task, worker);
        Assert.True(r.State == TaskState.Success, r.Error);
        Assert.Equal(1, (r.Started ?? _broker.StartsOf(task.TaskId).Single().Started).Attempt);
    }

    private static string Record(Guid taskId, int run) => AttemptStore.Record(taskId, run);

    /// <summary>Runs any worker's records show under way.</summary>
    private List<(Guid TaskId, int Run)> RunsUnderWay() =>
        Directory.EnumerateFiles(Uep.AttemptsPath, AttemptStore.RunningPrefix + "*").SelectMany(AttemptStore.ReadRecords).ToList();

    private string AttemptsFileOf(WorkerProcess worker) =>
        Directory.EnumerateFiles(Uep.AttemptsPath, $"{AttemptStore.RunningPrefix}*.{worker.Pid}").SingleOrDefault()
        ?? Path.Combine(Uep.AttemptsPath, $"{AttemptStore.RunningPrefix}(none for pid {worker.Pid})");

    [Theory]
    [InlineData("shell")]
    [InlineData("python")]
    public async Task A_task_that_kills_its_worker_fails_with_that_reason_after_max_deaths(string kind)
    {
        var task = kind == "shell"
            ? Shell("echo run >> runs; kill -9 $PPID; sleep 5")
            : Python("import os\ndef f():\n    with open('runs', 'a') as out:\n        out.write('run\\n')\n    os.kill(os.getppid(), 9)\n", "f");
        await _broker.PublishAsync(task);
        var doc = Document(maxTasks: 1, limits: TaskLimits.Default with { MaxWorkerDeaths = 2 });

        // A harness that restarts its worker whenever it dies, as a provider keeps a block's workers up.
        var exits = new List<int>();
        TaskResultMessage? result = null;
        for (var run = 1; run <= 4 && result is null; run++)
        {
            var worker = Start(doc);
            await Poll.UntilTrue(() => Task.FromResult(worker.HasExited || _broker.ResultsFor(task.TaskId).Count > 0), Deadline, () => worker.Stderr);
            result = _broker.ResultsFor(task.TaskId).FirstOrDefault();
            if (result is null)
            {
                exits.Add(worker.ExitCode);
            }
            else
            {
                await StopAsync(worker);
            }
        }

        Assert.Equal([137, 137], exits);
        Assert.NotNull(result);
        Assert.Equal(TaskState.Failed, result.State);
        Assert.Equal("its worker died 2 times while running it", result.Error);
        // The first run died within the delay after which a start is reported on its own, so its start may never have
        // gone out; a run after a death reports its start before it runs.
        var attempts = _broker.StartsOf(task.TaskId).Select(s => s.Started.Attempt).ToList();
        Assert.Contains(2, attempts);
        Assert.All(attempts, a => Assert.InRange(a, 1, 2));
        Assert.Equal(["run", "run"], File.ReadAllLines(Path.Combine(_home, "runs")));
        Assert.Single(_broker.ResultsFor(task.TaskId));
    }

    [Fact]
    public async Task Status_file_follows_running_tasks_and_sigterm_hands_the_running_task_back()
    {
        var first = Shell("while [ ! -e go ]; do sleep 0.05; done; echo one");
        var second = Shell("echo x >> second-runs; sleep 60", walltime: 600);
        await _broker.PublishAsync(first);
        var worker = Start(Document(maxTasks: 1, heartbeatSeconds: 0.5));

        await Poll.UntilTrue(() => Task.FromResult(TryReadStatus() is { Running: 1, Phase: WorkerPhase.Running }), Deadline, () => worker.Stderr);
        var status = ReadStatus();
        Assert.Equal("b1.0", status.WorkerId);
        Assert.Equal("b1", status.BlockId);
        Assert.Equal(worker.Pid, status.Pid);
        Assert.Equal(1, status.MaxTasks);
        Assert.Null(status.JobId);
        Assert.NotNull(status.LastTaskAt);
        File.WriteAllText(Path.Combine(_home, "go"), "");
        await ResultAsync(first, worker);
        await Poll.UntilTrue(() => Task.FromResult(TryReadStatus() is { Running: 0, Completed: 1 }), Deadline, () => worker.Stderr);

        // The heartbeat refreshes the file even when nothing changes.
        var updated = ReadStatus().UpdatedAt;
        await Poll.UntilTrue(() => Task.FromResult(ReadStatus().UpdatedAt > updated), Deadline, () => worker.Stderr);

        await _broker.PublishAsync(second);
        await Poll.UntilTrue(() => Task.FromResult(File.Exists(Path.Combine(_home, "second-runs")) && TryReadStatus() is { Running: 1 }), Deadline, () => worker.Stderr);
        Assert.Equal([(second.TaskId, 1)], AttemptStore.ReadRecords(AttemptsFileOf(worker)));

        Assert.Equal(0, await StopAsync(worker));
        status = ReadStatus();
        Assert.Equal(WorkerPhase.Stopped, status.Phase);
        Assert.Equal("signal", status.Reason);
        Assert.Equal(0, status.Running);
        Assert.Empty(_broker.ResultsFor(second.TaskId));
        Assert.Equal(1u, await _broker.ReadyCountAsync());
        // Handed back, not a death: no run is left under way, and the worker's file went with it.
        Assert.Empty(RunsUnderWay());
        Assert.False(File.Exists(AttemptsFileOf(worker)));
    }

    [Fact]
    public async Task A_worker_exits_when_the_manager_alive_file_goes_stale()
    {
        var worker = Start(Document(maxTasks: 1, managerTimeoutSeconds: 1.5));
        await Poll.UntilTrue(() => Task.FromResult(worker.Stderr.Contains("consuming", StringComparison.Ordinal) || worker.HasExited), Deadline, () => worker.Stderr);

        // A live manager: the file keeps changing for three timeouts, and the worker stays.
        for (var i = 0; i < 9; i++)
        {
            File.SetLastWriteTimeUtc(Uep.ManagerAlivePath, DateTime.UtcNow.AddSeconds(i));
            // Not a wait for a condition: this is the manager's refresh period, played by the test.
            await Task.Delay(500);
        }

        Assert.False(worker.HasExited, worker.Stderr);

        // The manager stops refreshing it: the worker goes on its own.
        var exit = await worker.WaitForExitAsync(Deadline);
        Assert.True(exit == 0, $"exit {exit}; stderr:\n{worker.Stderr}");
        var status = ReadStatus();
        Assert.Equal(WorkerPhase.Stopped, status.Phase);
        Assert.StartsWith("manager-gone", status.Reason);
    }

    [Fact]
    public async Task A_broker_connection_not_recovered_in_time_exits_3_naming_the_cause()
    {
        var worker = Start(Document(maxTasks: 1), environment: new Dictionary<string, string> { [EndpointSettings.BrokerRecoveryVariable] = "3" });
        await Poll.UntilTrue(() => Task.FromResult(worker.Stderr.Contains("consuming", StringComparison.Ordinal) || worker.HasExited), Deadline, () => worker.Stderr);

        await _broker.DeleteUserAsync();
        var exit = await worker.WaitForExitAsync(Deadline);

        Assert.True(exit == ExitCodes.BrokerFailure, $"exit {exit}; stderr:\n{worker.Stderr}");
        var last = worker.Stderr.TrimEnd().Split('\n')[^1];
        Assert.Contains($"ERROR connection to broker {node.Host}:{node.AmqpPort} lost and not recovered within 3 s", last);
        var status = ReadStatus();
        Assert.Equal(WorkerPhase.Stopped, status.Phase);
        Assert.StartsWith("connection to broker", status.Reason);
    }

    [Fact]
    public async Task A_wrong_password_exits_3_without_logging_it()
    {
        var doc = Document(maxTasks: 1);
        var worker = Start(doc with { Broker = doc.Broker with { Password = "not-" + _broker.Password } });

        var exit = await worker.WaitForExitAsync(Deadline);

        Assert.True(exit == ExitCodes.BrokerFailure, $"exit {exit}; stderr:\n{worker.Stderr}");
        Assert.Contains("ERROR broker refused the login", worker.Stderr.TrimEnd().Split('\n')[^1]);
        Assert.DoesNotContain(_broker.Password, worker.Stderr);
    }

    private WorkerProcess Start(WorkerDocument doc, string block = "b1", IReadOnlyDictionary<string, string>? environment = null)
    {
        var path = Path.Combine(RunDirectory, "worker.json");
        if (!File.Exists(path))
        {
            File.WriteAllText(path, "");
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.WriteAllText(path, ProtocolJson.Serialize(doc));
        }

        var worker = WorkerProcess.Start(["--document", path, "--block", block], _home, environment);
        _workers.Add(worker);
        return worker;
    }

    /// <summary>SIGTERM, then the exit code.</summary>
    private async Task<int> StopAsync(WorkerProcess worker)
    {
        Assert.Equal(0, Native.Kill(worker.Pid, 15));
        var exit = await worker.WaitForExitAsync(Deadline);
        Assert.True(exit is not null, $"worker did not stop:\n{worker.Stderr}");
        return exit.Value;
    }

    private Task<TaskResultMessage> ResultAsync(TaskMessage task, WorkerProcess worker) =>
        _broker.ResultAsync(task.TaskId, Deadline, () => worker.Stderr);

    private WorkerStatus ReadStatus() => WorkerStatusFile.Read(Path.Combine(Uep.WorkersPath, "b1.0.json"));

    private WorkerStatus? TryReadStatus() => File.Exists(Path.Combine(Uep.WorkersPath, "b1.0.json")) ? ReadStatus() : null;

    private WorkerDocument Document(int maxTasks, TaskLimits? limits = null, IReadOnlyList<Guid>? allowed = null,
        double heartbeatSeconds = 1, double managerTimeoutSeconds = 600) =>
        new(_broker.UepId, _broker.Credentials, maxTasks, limits ?? TaskLimits.Default, allowed, RunDirectory, heartbeatSeconds, managerTimeoutSeconds);

    private static TaskMessage Shell(string command, Dictionary<string, string>? args = null, double walltime = 30) =>
        new(Guid.NewGuid(), Guid.NewGuid(), FunctionKind.Shell, command, args ?? [], walltime, 65536);

    private static TaskMessage Python(string source, string entry, JsonArray? args = null, JsonObject? kwargs = null, double walltime = 30) =>
        new(Guid.NewGuid(), Guid.NewGuid(), FunctionKind.Python, "", new Dictionary<string, string>(), walltime, 65536,
            new PythonCall(source, entry, args ?? [], kwargs ?? []));
}
