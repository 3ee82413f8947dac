using System.Diagnostics;
using System.Globalization;
using Mep.Endpoint;
using Mep.Protocol.Messages;
using Xunit;

namespace Mep.Tests.Endpoint;

public sealed class ShellRunnerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mep-shell-").FullName;
    private readonly ShellRunner _runner;
    private readonly ProcessIdentity _identity = ProcessIdentity.Current();

    public ShellRunnerTests()
    {
        _runner = new ShellRunner(_identity, _dir);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static TaskMessage NewTask(string command, Dictionary<string, string>? args = null, double walltime = 30, int limit = 65536) =>
        new(Guid.NewGuid(), Guid.NewGuid(), FunctionKind.Shell, command, args ?? [], walltime, limit);

    [Fact]
    public async Task Success_captures_stdout_stderr_and_identity()
    {
        var task = NewTask("echo out; echo err >&2; pwd");
        var r = await _runner.RunAsync(task, CancellationToken.None);

        Assert.Equal(task.TaskId, r.TaskId);
        Assert.Equal(TaskState.Success, r.State);
        Assert.Equal(0, r.ReturnCode);
        Assert.Equal($"out\n{_dir}\n", r.Stdout);
        Assert.Equal("err\n", r.Stderr);
        Assert.False(r.OutputTruncated);
        Assert.Null(r.Error);
        Assert.Equal(System.Net.Dns.GetHostName(), r.Hostname);
        Assert.Equal((int)Native.GetUid(), r.Uid);
        Assert.False(string.IsNullOrEmpty(r.Username));
        Assert.True(r.CompletedAt >= r.StartedAt);
    }

    [Fact]
    public async Task Nonzero_exit_is_a_failed_result_with_its_return_code_and_no_error()
    {
        var r = await _runner.RunAsync(NewTask("echo partial; exit 3"), CancellationToken.None);

        Assert.Equal(TaskState.Failed, r.State);
        Assert.Equal(3, r.ReturnCode);
        Assert.Equal("partial\n", r.Stdout);
        Assert.Null(r.Error);
    }

    [Fact]
    public async Task Output_is_capped_to_its_tail()
    {
        var r = await _runner.RunAsync(
            NewTask("head -c 100000 /dev/zero | tr '\\0' a; printf END; head -c 5000 /dev/zero | tr '\\0' e >&2; printf ERR >&2", limit: 1000),
            CancellationToken.None);

        Assert.Equal(TaskState.Success, r.State);
        Assert.True(r.OutputTruncated);
        Assert.Equal(1000, r.Stdout.Length);
        Assert.Equal(new string('a', 997) + "END", r.Stdout);
        Assert.Equal(1000, r.Stderr.Length);
        Assert.EndsWith("eERR", r.Stderr);
    }

    [Fact]
    public async Task Output_under_the_cap_is_not_truncated()
    {
        var r = await _runner.RunAsync(NewTask("printf 12345", limit: 5), CancellationToken.None);

        Assert.Equal("12345", r.Stdout);
        Assert.False(r.OutputTruncated);
    }

    [Theory]
    [InlineData("'; touch MARKER; '")]
    [InlineData("$(touch MARKER)")]
    [InlineData("`touch MARKER`")]
    [InlineData("a b\n; touch MARKER #")]
    [InlineData("\"; touch MARKER; \"")]
    [InlineData("")]
    public async Task Hostile_argument_reaches_the_command_as_one_literal_word(string hostile)
    {
        var marker = Path.Combine(_dir, "pwned");
        var value = hostile.Replace("MARKER", marker, StringComparison.Ordinal);

        // printf repeats its format once per argument, so one bracket pair proves one word.
        var r = await _runner.RunAsync(NewTask("printf '[%s]' {x}", new() { ["x"] = value }), CancellationToken.None);

        Assert.Equal(TaskState.Success, r.State);
        Assert.Equal($"[{value}]", r.Stdout);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public async Task Missing_argument_fails_the_task_without_running_it()
    {
        var r = await _runner.RunAsync(NewTask("echo {a} {b} > ran", new() { ["a"] = "1" }), CancellationToken.None);

        Assert.Equal(TaskState.Failed, r.State);
        Assert.Null(r.ReturnCode);
        Assert.Equal("argument 'b' is missing", r.Error);
        Assert.False(File.Exists(Path.Combine(_dir, "ran")));
    }

    [Fact]
    public async Task Unused_argument_and_malformed_template_fail_the_task()
    {
        var unused = await _runner.RunAsync(NewTask("echo hi", new() { ["oops"] = "1" }), CancellationToken.None);
        var malformed = await _runner.RunAsync(NewTask("echo {unclosed"), CancellationToken.None);

        Assert.Equal("argument 'oops' is not used by the command", unused.Error);
        Assert.Equal(TaskState.Failed, malformed.State);
        Assert.Contains("unclosed", malformed.Error);
    }

    [Fact]
    public async Task Walltime_kills_the_whole_process_tree()
    {
        // Two background sleeps: one a direct child of the shell, one orphaned by an exited subshell
        // (so only the process-group kill can find it), then a foreground sleep.
        var sw = Stopwatch.StartNew();
        var r = await _runner.RunAsync(
            NewTask("sleep 100 & echo $!; sh -c 'sleep 100 & echo $!'; sleep 100", walltime: 1),
            CancellationToken.None);
        sw.Stop();

        Assert.Equal(TaskState.Failed, r.State);
        Assert.Equal("walltime of 1 s exceeded", r.Error);
        Assert.Equal(128 + 9, r.ReturnCode);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15), $"took {sw.Elapsed}");
        var pids = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(2, pids.Count);
        foreach (var pid in pids)
        {
            Assert.True(await ProcessProbe.WaitUntilAsync(() => ProcessProbe.IsDead(pid), TimeSpan.FromSeconds(10)), $"pid {pid} survived");
        }
    }

    [Fact]
    public async Task Walltime_applies_while_a_background_child_holds_the_output_open()
    {
        // The shell exits at once, but the task is not done while its output is still open.
        var r = await _runner.RunAsync(NewTask("sleep 100 & echo $!", walltime: 0.5), CancellationToken.None);

        Assert.Equal(TaskState.Failed, r.State);
        Assert.Equal("walltime of 0.5 s exceeded", r.Error);
        Assert.Equal(0, r.ReturnCode);
        var pid = int.Parse(r.Stdout.Trim(), CultureInfo.InvariantCulture);
        Assert.True(await ProcessProbe.WaitUntilAsync(() => ProcessProbe.IsDead(pid), TimeSpan.FromSeconds(10)), $"pid {pid} survived");
    }

    [Fact]
    public async Task Shutdown_kills_the_tree_and_throws()
    {
        var pidFile = Path.Combine(_dir, "pid");
        using var shutdown = new CancellationTokenSource();
        var run = _runner.RunAsync(NewTask("sleep 100 & echo $! > pid.tmp && mv pid.tmp pid; sleep 100", walltime: 300), shutdown.Token);

        Assert.True(await ProcessProbe.WaitUntilAsync(() => File.Exists(pidFile), TimeSpan.FromSeconds(10)));
        var pid = int.Parse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture);
        await shutdown.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.True(await ProcessProbe.WaitUntilAsync(() => ProcessProbe.IsDead(pid), TimeSpan.FromSeconds(10)), $"pid {pid} survived");
    }
}
