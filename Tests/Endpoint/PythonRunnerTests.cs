using System.Globalization;
using System.Text.Json.Nodes;
using Mep.Endpoint;
using Mep.Endpoint.Python;
using Mep.Protocol.Messages;
using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.Endpoint;

/// <summary>A worker slot's python3 (the real one on PATH) driven in-process, one task at a time.</summary>
public sealed class PythonRunnerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mep-python-").FullName;
    private readonly string _scratch = Directory.CreateTempSubdirectory("mep-python-scratch-").FullName;
    private readonly PythonRunner _runner;
    private string? _path = Environment.GetEnvironmentVariable("PATH");

    public PythonRunnerTests()
    {
        _runner = new PythonRunner("slot0", ProcessIdentity.Current(), _dir, _scratch, () => _path);
    }

    public void Dispose()
    {
        _runner.Dispose();
        Directory.Delete(_dir, recursive: true);
        Directory.Delete(_scratch, recursive: true);
    }

    private static TaskMessage Call(string source, string entry, JsonArray? args = null, JsonObject? kwargs = null, double walltime = 30, int limit = 65536) =>
        new(Guid.NewGuid(), Guid.NewGuid(), FunctionKind.Python, "", new Dictionary<string, string>(), walltime, limit,
            new PythonCall(source, entry, args ?? [], kwargs ?? []));

    private Task<TaskResultMessage> RunAsync(TaskMessage task, long resultLimit = 1_000_000) =>
        _runner.RunAsync(task, resultLimit, CancellationToken.None);

    [Fact]
    public async Task Arguments_and_return_value_travel_as_json_and_output_is_captured()
    {
        const string source = """
            import os, subprocess
            def f(a, items, *, scale=1, label=None):
                print("computing", a)
                subprocess.run(["sh", "-c", "echo from a child; echo child err >&2"])
                os.write(1, b"raw fd write\n")
                return {"sum": (a + sum(items)) * scale, "label": label, "cwd": os.getcwd(), "none": None, "pi": 3.5}
            """;
        var task = Call(source, "f", [2, new JsonArray(1, 2, 3)], new JsonObject { ["scale"] = 10, ["label"] = "héllo" });

        var r = await RunAsync(task);

        Assert.True(r.State == TaskState.Success, r.Error);
        Assert.Equal(task.TaskId, r.TaskId);
        Assert.Null(r.ReturnCode);
        Assert.Null(r.Exception);
        var value = JsonNode.Parse(r.ReturnValue!)!;
        Assert.Equal(80, (int)value["sum"]!);
        Assert.Equal("héllo", (string)value["label"]!);
        Assert.Equal(_dir, (string)value["cwd"]!);
        Assert.Null(value["none"]);
        Assert.Equal(3.5, (double)value["pi"]!);
        Assert.Equal("computing 2\nfrom a child\nraw fd write\n", r.Stdout);
        Assert.Equal("child err\n", r.Stderr);
    }

    [Fact]
    public async Task No_call_sees_another_calls_output_though_empty_files_are_kept()
    {
        var printed = await RunAsync(Call("def f():\n    print('one')\n", "f"));
        var silent = await RunAsync(Call("def f():\n    return 1\n", "f"));
        Assert.Equal("one\n", printed.Stdout);
        Assert.Equal("", silent.Stdout);
        Assert.Equal("", silent.Stderr);

        // A program the function leaves running writes after the call has returned, into the file that call had.
        var left = await RunAsync(Call("import subprocess\ndef f():\n    subprocess.Popen(['sh', '-c', 'sleep 0.3; echo late; echo late >&2'])\n", "f"));
        Assert.Equal("", left.Stdout);
        var stdout = Path.Combine(_scratch, "slot0.stdout");
        var stderr = Path.Combine(_scratch, "slot0.stderr");
        await Poll.UntilTrue(() => Task.FromResult(File.ReadAllText(stdout) == "late\n" && File.ReadAllText(stderr) == "late\n"),
            TimeSpan.FromSeconds(30), () => "the straggler never wrote");

        var next = await RunAsync(Call("def f():\n    return 2\n", "f"));
        Assert.Equal("", next.Stdout);
        Assert.Equal("", next.Stderr);
        var after = await RunAsync(Call("import sys\ndef f():\n    print('three')\n    print('err', file=sys.stderr)\n", "f"));
        Assert.Equal("three\n", after.Stdout);
        Assert.Equal("err\n", after.Stderr);
    }

    [Fact]
    public async Task The_python_process_is_reused_across_tasks()
    {
        const string source = """
            import os, sys
            def f():
                sys.mep_calls = getattr(sys, "mep_calls", 0) + 1
                return [os.getpid(), sys.mep_calls]
            """;
        var first = await RunAsync(Call(source, "f"));
        var second = await RunAsync(Call(source, "f"));

        var (a, b) = (JsonNode.Parse(first.ReturnValue!)!.AsArray(), JsonNode.Parse(second.ReturnValue!)!.AsArray());
        Assert.Equal((int)a[0]!, (int)b[0]!);
        Assert.Equal(_runner.Pid, (int)a[0]!);
        Assert.Equal(1, (int)a[1]!);
        Assert.Equal(2, (int)b[1]!);
    }

    [Fact]
    public async Task An_exception_comes_back_with_type_message_and_traceback()
    {
        const string source = """
            def helper(x):
                raise ValueError(f"bad value {x}")

            def compute(x):
                return helper(x)
            """;
        var r = await RunAsync(Call(source, "compute", [42]));

        Assert.Equal(TaskState.Failed, r.State);
        Assert.Equal("ValueError: bad value 42", r.Error);
        Assert.NotNull(r.Exception);
        Assert.Equal("ValueError", r.Exception!.Type);
        Assert.Equal("bad value 42", r.Exception.Message);
        Assert.StartsWith("Traceback (most recent call last):", r.Exception.Traceback);
        Assert.Contains(", in compute\n", r.Exception.Traceback);
        Assert.Contains(", in helper\n", r.Exception.Traceback);
        Assert.Contains("raise ValueError(f\"bad value {x}\")", r.Exception.Traceback);
        // The driver's own frames are cut: the user sees only their code.
        Assert.DoesNotContain("_call", r.Exception.Traceback);

        var custom = await RunAsync(Call("import json\nclass Oops(Exception):\n    pass\ndef f():\n    raise Oops()\ndef g():\n    json.loads('{')\n", "f"));
        Assert.Equal("Oops", custom.Exception!.Type);
        Assert.Equal("Oops", custom.Error);
        var module = await RunAsync(Call("import json\ndef g():\n    json.loads('{')\n", "g"));
        Assert.Equal("json.decoder.JSONDecodeError", module.Exception!.Type);
    }

    [Fact]
    public async Task Calls_that_cannot_be_made_or_returned_fail_with_a_clear_reason_and_the_process_lives_on()
    {
        var pid = JsonNode.Parse((await RunAsync(Call("import os\ndef f():\n    return os.getpid()\n", "f"))).ReturnValue!)!.GetValue<int>();

        var set = await RunAsync(Call("def f():\n    return {1, 2}\n", "f"));
        Assert.Equal(TaskState.Failed, set.State);
        Assert.Equal("the return value is not JSON-serialisable: Object of type set is not JSON serializable", set.Error);

        var nan = await RunAsync(Call("def f():\n    return float('nan')\n", "f"));
        Assert.StartsWith("the return value is not JSON-serialisable:", nan.Error);

        var missing = await RunAsync(Call("def f():\n    return 1\n", "g"));
        Assert.Equal("the function's source defines no callable named 'g'", missing.Error);

        var syntax = await RunAsync(Call("def f(:\n", "f"));
        Assert.Equal("SyntaxError", syntax.Exception!.Type);

        var exits = await RunAsync(Call("import sys\ndef f():\n    sys.exit(4)\n", "f"));
        Assert.Equal("SystemExit: 4", exits.Error);

        var big = await RunAsync(Call("def f():\n    return 'x' * 5000\n", "f"), resultLimit: 4000);
        Assert.Equal("result of 5002 bytes exceeds the endpoint's limit of 4000 bytes", big.Error);
        Assert.Null(big.ReturnValue);

        Assert.Equal(pid, _runner.Pid);
    }

    [Fact]
    public async Task Walltime_kills_the_process_group_and_the_next_task_gets_a_fresh_python()
    {
        var childPid = Path.Combine(_dir, "child.pid");
        var source = $$"""
            import os, subprocess, time
            def f():
                print("before the wait", flush=True)
                child = subprocess.Popen(["sleep", "100"])
                with open({{JsonValue.Create(childPid).ToJsonString()}} + ".tmp", "w") as out:
                    out.write(str(child.pid))
                os.rename({{JsonValue.Create(childPid).ToJsonString()}} + ".tmp", {{JsonValue.Create(childPid).ToJsonString()}})
                time.sleep(100)
            """;
        var before = JsonNode.Parse((await RunAsync(Call("import os\ndef f():\n    return os.getpid()\n", "f"))).ReturnValue!)!.GetValue<int>();

        var r = await RunAsync(Call(source, "f", walltime: 2));

        Assert.Equal(TaskState.Failed, r.State);
        Assert.Equal("walltime of 2 s exceeded", r.Error);
        Assert.Equal("before the wait\n", r.Stdout);
        Assert.True(ProcessProbe.IsDead(before));
        var child = int.Parse(File.ReadAllText(childPid), CultureInfo.InvariantCulture);
        Assert.True(await ProcessProbe.WaitUntilAsync(() => ProcessProbe.IsDead(child), TimeSpan.FromSeconds(10)));

        var after = await RunAsync(Call("import os\ndef f():\n    return os.getpid()\n", "f"));
        Assert.Equal(TaskState.Success, after.State);
        Assert.NotEqual(before, JsonNode.Parse(after.ReturnValue!)!.GetValue<int>());
    }

    [Fact]
    public async Task A_python_that_dies_mid_call_fails_the_task_and_is_replaced()
    {
        var r = await RunAsync(Call("import os\ndef f():\n    print('going', flush=True)\n    os._exit(3)\n", "f"));

        Assert.Equal(TaskState.Failed, r.State);
        Assert.StartsWith("python3 exited while running the function (exit code 3", r.Error);
        Assert.Equal("going\n", r.Stdout);
        Assert.Equal(TaskState.Success, (await RunAsync(Call("def f():\n    return 1\n", "f"))).State);
    }

    [Fact]
    public async Task Shutdown_kills_python_and_throws()
    {
        using var shutdown = new CancellationTokenSource();
        var run = _runner.RunAsync(Call("import time\ndef f():\n    time.sleep(100)\n", "f"), 1000, shutdown.Token);
        Assert.True(await ProcessProbe.WaitUntilAsync(() => _runner.Pid is not null, TimeSpan.FromSeconds(30)));
        var pid = _runner.Pid!.Value;

        await shutdown.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.True(await ProcessProbe.WaitUntilAsync(() => ProcessProbe.IsDead(pid), TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task The_first_python3_on_path_is_used_even_if_its_environment_prints_at_startup()
    {
        // Like a conda environment activated by worker_init: its python3 comes first on PATH and talks at startup.
        var env = Directory.CreateDirectory(Path.Combine(_dir, "env", "bin")).FullName;
        var wrapper = Path.Combine(env, "python3");
        File.WriteAllText(wrapper, "#!/bin/sh\necho 'environment activated'\nexport MEP_TEST_ENV=conda\nexec /usr/bin/python3 \"$@\"\n");
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        _path = $"{env}:{_path}";

        var r = await RunAsync(Call("import os, sys\ndef f():\n    return [sys.executable, os.environ.get('MEP_TEST_ENV')]\n", "f"));

        Assert.True(r.State == TaskState.Success, r.Error);
        Assert.Equal("[\"/usr/bin/python3\", \"conda\"]", r.ReturnValue);
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public async Task No_python3_on_path_fails_the_task_saying_so()
    {
        _path = $"{_dir}:/nonexistent";

        var r = await RunAsync(Call("def f():\n    return 1\n", "f"));

        Assert.Equal(TaskState.Failed, r.State);
        Assert.Equal($"python3 was not found on the worker's PATH ({_dir}:/nonexistent)", r.Error);
    }

    [Fact]
    public async Task A_python3_warmed_before_any_task_serves_the_first_task()
    {
        var pidFile = RecordingPython();

        _runner.Warm(CancellationToken.None);
        // Started ahead of the task: the wrapper has run (and exec'd python3 under the same pid) before any task came.
        Assert.True(await ProcessProbe.WaitUntilAsync(() => File.Exists(pidFile), TimeSpan.FromSeconds(30)));
        var warmed = int.Parse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture);
        var r = await RunAsync(Call("import os\ndef f():\n    return os.getpid()\n", "f"));

        Assert.True(r.State == TaskState.Success, r.Error);
        Assert.Equal(warmed.ToString(CultureInfo.InvariantCulture), r.ReturnValue);
    }

    [Fact]
    public async Task A_warmed_python3_that_no_task_used_dies_with_the_slot()
    {
        var pidFile = RecordingPython();

        _runner.Warm(CancellationToken.None);
        Assert.True(await ProcessProbe.WaitUntilAsync(() => File.Exists(pidFile), TimeSpan.FromSeconds(30)));
        var warmed = int.Parse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture);
        _runner.Dispose();

        Assert.True(await ProcessProbe.WaitUntilAsync(() => ProcessProbe.IsDead(warmed), TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task Warming_without_python3_on_path_leaves_the_first_task_to_fail_saying_so()
    {
        _path = $"{_dir}:/nonexistent";

        _runner.Warm(CancellationToken.None);
        var r = await RunAsync(Call("def f():\n    return 1\n", "f"));

        Assert.Equal(TaskState.Failed, r.State);
        Assert.Equal($"python3 was not found on the worker's PATH ({_dir}:/nonexistent)", r.Error);
    }

    /// <summary>A python3 first on PATH that writes its pid to a file, then execs the real one (same pid).</summary>
    private string RecordingPython()
    {
        var bin = Directory.CreateDirectory(Path.Combine(_dir, "recording", "bin")).FullName;
        var pidFile = Path.Combine(_dir, "python.pid");
        var wrapper = Path.Combine(bin, "python3");
        File.WriteAllText(wrapper, $"#!/bin/sh\necho $$ > '{pidFile}.tmp' && mv '{pidFile}.tmp' '{pidFile}'\nexec /usr/bin/python3 \"$@\"\n");
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        _path = $"{bin}:{_path}";
        return pidFile;
    }

    [Fact]
    public void Locator_takes_the_first_executable_python3_in_path_order_and_ignores_relative_entries()
    {
        var first = Directory.CreateDirectory(Path.Combine(_dir, "first")).FullName;
        var second = Directory.CreateDirectory(Path.Combine(_dir, "second")).FullName;
        File.WriteAllText(Path.Combine(first, "python3"), "not executable");
        File.WriteAllText(Path.Combine(second, "python3"), "#!/bin/sh\n");
        File.SetUnixFileMode(Path.Combine(second, "python3"), UnixFileMode.UserRead | UnixFileMode.UserExecute);

        Assert.Equal(Path.Combine(second, "python3"), PythonLocator.Find($"relative:{first}::{second}"));
        Assert.Null(PythonLocator.Find(first));
        Assert.Null(PythonLocator.Find(null));
    }
}
