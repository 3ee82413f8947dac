using System.Text.Json.Nodes;
using Mep.Grains.Audit;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Mep.Tests.Cli;

/// <summary><c>mep audit</c> on a log written (and rotated) by the silo's own writer, read while the writer holds it open.</summary>
public sealed class AuditCommandTests : IDisposable
{
    private static readonly Guid TaskA = Guid.Parse("0196a000-0000-7000-8000-00000000000a");
    private static readonly Guid TaskB = Guid.Parse("0196a000-0000-7000-8000-00000000000b");

    private readonly string _dir = Directory.CreateTempSubdirectory("mep-audit-cli-").FullName;
    private readonly DateTimeOffset _now = DateTimeOffset.UtcNow;
    private readonly AuditLogFile _log;

    public AuditCommandTests()
    {
        // Small files: the entries below span several rotated files, which the command must read oldest first.
        _log = new AuditLogFile(LogPath, NullLoggerFactory.Instance, maxFileBytes: 700, keepFiles: 20);
    }

    private string LogPath => Path.Combine(_dir, "audit.log");

    public void Dispose()
    {
        _log.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private AuditEntry Decision(TimeSpan ago, string identity, string? localUser, string endpoint, string decision = AuditEntry.Allowed) => new(
        _now - ago, endpoint, AuditActions.Submit, decision, decision == AuditEntry.Allowed ? 200 : 403,
        decision == AuditEntry.Allowed ? null : "not allowed", "id-" + identity, identity, [identity], identity, localUser,
        "document[0].rule[0]", "uep-1", Tasks: 2);

    private AuditEntry Fact(TimeSpan ago, string action, string localUser, string endpoint, Guid? task = null) => new(
        _now - ago, endpoint, action, AuditEntry.Recorded, null, action == AuditActions.UepExit ? "killed by signal 9" : null,
        "id-x", null, null, LocalUser: localUser, UserEndpointId: "uep-1", Uid: 1234, Pid: 42, TaskId: task,
        ExitCode: action == AuditActions.UepExit ? 137 : null, Signal: action == AuditActions.UepExit ? 9 : null);

    private async Task WriteAllAsync()
    {
        await _log.WriteAsync(Decision(TimeSpan.FromHours(3), "alice@uni.edu", "alice", "ep1"));
        await _log.WriteAsync(Decision(TimeSpan.FromMinutes(50), "alice@uni.edu", "alice", "ep1"));
        await _log.WriteAsync(Decision(TimeSpan.FromMinutes(49), "bob@uni.edu", null, "ep1", AuditEntry.Refused));
        await _log.WriteAsync([
            Fact(TimeSpan.FromMinutes(48), AuditActions.TaskReceived, "alice", "ep1", TaskA),
            Fact(TimeSpan.FromMinutes(48), AuditActions.TaskReceived, "alice", "ep1", TaskB),
        ]);
        await _log.WriteAsync(Fact(TimeSpan.FromMinutes(47), AuditActions.UepStart, "alice", "ep1"));
        await _log.WriteAsync(Fact(TimeSpan.FromMinutes(40), AuditActions.TaskEnded, "alice", "ep1", TaskA));
        await _log.WriteAsync(Fact(TimeSpan.FromMinutes(30), AuditActions.UepExit, "alice", "ep1"));
        await _log.WriteAsync(Decision(TimeSpan.FromMinutes(10), "alice@uni.edu", "alice", "ep2"));
        await _log.WriteAsync(Fact(TimeSpan.FromMinutes(5), AuditActions.TaskEnded, "carol", "ep2", TaskB));
    }

    private async Task<List<JsonObject>> JsonRunAsync(params string[] args)
    {
        var run = await CliRunner.RunAsync(["audit", "--file", LogPath, "--json", .. args]);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("", run.Stderr);
        return run.StdoutLines.Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
    }

    private static List<string> Actions(List<JsonObject> entries) => entries.Select(e => (string)e["action"]!).ToList();

    [Fact]
    public async Task Filters_by_user_time_endpoint_action_and_task_across_rotated_files_in_order()
    {
        await WriteAllAsync();
        Assert.True(File.Exists(AuditLogFile.RotatedPath(LogPath, 2)), "the test log did not rotate");

        // alice as local account or identity, in the last hour: not the 3-hour-old submit, not bob's, not carol's.
        var alice = await JsonRunAsync("--user", "alice", "--since", "1h");
        Assert.Equal(["submit", "task-received", "task-received", "uep-start", "task-ended", "uep-exit", "submit"], Actions(alice));
        Assert.All(alice, e => Assert.True(_now - DateTimeOffset.Parse((string)e["time"]!) < TimeSpan.FromHours(1)));
        var byIdentity = await JsonRunAsync("--user", "BOB@uni.edu");
        Assert.Equal("refused", (string)Assert.Single(byIdentity)["decision"]!);

        // A window with --until, one endpoint, and several actions (repeated and comma-separated).
        var window = await JsonRunAsync("--since", "55m", "--until", "35m", "--endpoint", "ep1", "--action", "uep-start,task-ended", "--action", "submit");
        Assert.Equal(["submit", "submit", "uep-start", "task-ended"], Actions(window));
        var absolute = await JsonRunAsync("--since", (_now - TimeSpan.FromMinutes(20)).ToString("O"), "--endpoint", "EP2");
        Assert.Equal(["submit", "task-ended"], Actions(absolute));

        var task = await JsonRunAsync("--task", TaskB.ToString());
        Assert.Equal(["task-received", "task-ended"], Actions(task));
        Assert.Equal(["alice", "carol"], task.Select(e => (string)e["local_user"]!));
        var exit = Assert.Single(await JsonRunAsync("--action", "uep-exit"));
        Assert.Equal(9, (int)exit["signal"]!);
    }

    [Fact]
    public async Task The_table_shows_one_row_per_entry_with_its_details_and_says_when_nothing_matches()
    {
        await WriteAllAsync();
        File.AppendAllText(LogPath, "not json\n\n");

        var run = await CliRunner.RunAsync("audit", "--file", LogPath, "--user", "alice", "--action", "uep-exit,submit", "--since", "2h");
        Assert.Equal(0, run.ExitCode);
        var rows = run.StdoutLines.Where(l => l.Contains("uep-exit") || l.Contains("submit")).ToList();
        Assert.Equal(3, rows.Count);
        Assert.Contains("exit 137, signal 9, killed by signal 9", rows.Single(r => r.Contains("uep-exit")));
        Assert.Contains("status 200", rows[0]);
        Assert.Contains("rule document[0].rule[0]", rows[0]);
        Assert.Contains("skipped 1 line of", Assert.Single(run.StderrLines));

        var none = await CliRunner.RunAsync("audit", "--file", LogPath, "--user", "nobody");
        Assert.Equal(0, none.ExitCode);
        Assert.Equal("no matching audit entries", none.Stdout.Trim());
    }

    public static TheoryData<string[], string> BadArguments => new()
    {
        { ["--action", "delete"], "--action 'delete' is not one of submit, describe" },
        { ["--since", "yesterday"], "--since 'yesterday' is not a duration" },
        { ["--until", "2025-13-45T00:00Z"], "--until '2025-13-45T00:00Z' is not a time" },
        { ["--since", "10m", "--until", "1h"], "--since (" },
        { ["--task", "nope"], "--task 'nope' is not a UUID" },
        { ["--file", "/nonexistent/audit.log"], "--file '/nonexistent/audit.log' does not exist" },
        { ["--bogus"], "--bogus" },
    };

    [Theory]
    [MemberData(nameof(BadArguments))]
    public async Task Bad_arguments_are_one_line_naming_the_option_with_exit_code_2(string[] args, string expected)
    {
        await _log.WriteAsync(Decision(TimeSpan.Zero, "alice@uni.edu", "alice", "ep1"));
        string[] full = args.Contains("--file") ? ["audit", .. args] : ["audit", "--file", LogPath, .. args];
        var run = await CliRunner.RunAsync(full);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal("", run.Stdout);
        var line = Assert.Single(run.StderrLines);
        Assert.StartsWith("mep: ", line);
        Assert.Contains(expected, line);
    }
}
