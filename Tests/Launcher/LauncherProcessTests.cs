using System.Globalization;
using System.Runtime.Versioning;
using Mep.Grains.Launching;
using Mep.Launcher;
using Mep.Protocol;
using Mep.Protocol.Launcher;
using Xunit;

namespace Mep.Tests.Launcher;

/// <summary>
/// The real launcher program (as root) starting real processes as real throwaway users, driven through
/// <see cref="LauncherClient"/> as the silo drives it.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class LauncherProcessTests(LauncherFixture fixture) : IClassFixture<LauncherFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly LauncherClient client = fixture.Client;

    [Fact]
    public async Task Runs_the_program_as_the_user_with_a_clean_environment_and_reports_its_exit()
    {
        using var timeout = new CancellationTokenSource(Deadline);
        var uepId = Guid.NewGuid().ToString();
        var document = $$$"""{"uep_id":"{{{uepId}}}","broker":{"password":"s3cr3t-{{{uepId}}}"}}""";
        var user = Native.GetUserByName(fixture.UserA)!;

        await using var watch = await client.OpenWatchAsync(timeout.Token);
        var pid = await client.StartAsync(uepId, fixture.UserA, document, timeout.Token);
        var exited = await NextExitAsync(watch, uepId, timeout.Token);

        Assert.Equal(LauncherEventKind.Exited, exited.Event);
        Assert.Equal(pid, exited.Pid);
        Assert.Equal(fixture.UserA, exited.Username);
        Assert.Equal(7, exited.ExitCode);
        Assert.Equal(Enumerable.Range(6, LauncherFixture.StderrTailLines).Select(i => $"stderr line {i}"),
            exited.StderrTail!.Split('\n'));

        // Identity: uid, primary group and the supplementary group, exactly as id(1) reports them for the account.
        Assert.Equal(user.Uid.ToString(CultureInfo.InvariantCulture), Report(uepId, "uid").Trim());
        var expectedGroups = Words(await ThrowawayUsers.RunAsync("id", "-G", fixture.UserA));
        Assert.Equal(2, expectedGroups.Count);
        Assert.Contains(user.Gid.ToString(CultureInfo.InvariantCulture), expectedGroups);
        Assert.Equal(expectedGroups, Words(Report(uepId, "groups")));

        Assert.Equal(user.Home, Report(uepId, "pwd").Trim());
        Assert.Equal(document, Report(uepId, "stdin"));

        // Only what the launcher sets, plus PWD which sh itself exports; nothing of the launcher's environment
        // (its canary, its MEP_Launcher__* settings) and never the start document.
        var environment = Report(uepId, "env").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('=', 2))
            .ToDictionary(pair => pair[0], pair => pair[1]);
        Assert.Equal(
            ["HOME", "LOGNAME", "MEP_TEST_FIXED", "MEP_UEP_ID", "PATH", "PWD", "SHELL", "USER"],
            environment.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(user.Home, environment["HOME"]);
        Assert.Equal(fixture.UserA, environment["USER"]);
        Assert.Equal(fixture.UserA, environment["LOGNAME"]);
        Assert.Equal("/bin/sh", environment["SHELL"]);
        Assert.Equal("/usr/local/bin:/usr/bin:/bin", environment["PATH"]);
        Assert.Equal(uepId, environment["MEP_UEP_ID"]);
        Assert.Equal(LauncherFixture.FixedValue, environment[LauncherFixture.FixedVariable]);
        Assert.DoesNotContain("s3cr3t", Report(uepId, "env"), StringComparison.Ordinal);

        Assert.DoesNotContain(await client.ListAsync(timeout.Token), child => child.UepId == uepId);
    }

    [Fact]
    public async Task Start_is_idempotent_per_uep_id_and_stop_signals_the_child()
    {
        using var timeout = new CancellationTokenSource(Deadline);
        const string waiting = """{"mode":"wait-for-signal"}""";
        var uepId = Guid.NewGuid().ToString();
        var user = Native.GetUserByName(fixture.UserA)!;
        await using var watch = await client.OpenWatchAsync(timeout.Token);

        var pid = await client.StartAsync(uepId, fixture.UserA, waiting, timeout.Token);
        Assert.Equal(pid, await client.StartAsync(uepId, fixture.UserA, waiting, timeout.Token));
        var conflict = await Assert.ThrowsAsync<LauncherException>(
            () => client.StartAsync(uepId, fixture.UserB, waiting, timeout.Token));
        Assert.Equal($"uep {uepId} is already running as user '{fixture.UserA}'", conflict.Message);
        Assert.False(conflict.Unavailable);

        var listed = Assert.Single(await client.ListAsync(timeout.Token), child => child.UepId == uepId);
        Assert.Equal((fixture.UserA, (int)user.Uid, pid), (listed.Username, listed.Uid, listed.Pid));

        // The kernel's view of the running child, once the pre-exec step made it the UEP program: real, effective,
        // saved and filesystem uid are all the user's.
        await ProcFiles.WaitForCommandAsync(pid, "sleep", timeout.Token);
        Assert.Equal(Enumerable.Repeat(user.Uid.ToString(CultureInfo.InvariantCulture), 4), ProcFiles.Status(pid, "Uid"));

        Assert.Equal(pid, await client.StopAsync(uepId, "term", timeout.Token));
        var terminated = await NextExitAsync(watch, uepId, timeout.Token);
        Assert.Equal((pid, 128 + 15), (terminated.Pid, terminated.ExitCode));
        Assert.DoesNotContain(await client.ListAsync(timeout.Token), child => child.UepId == uepId);
        var gone = await Assert.ThrowsAsync<LauncherException>(() => client.StopAsync(uepId, "term", timeout.Token));
        Assert.Equal($"uep {uepId} is not running", gone.Message);

        var killedId = Guid.NewGuid().ToString();
        var killedPid = await client.StartAsync(killedId, fixture.UserB, waiting, timeout.Token);
        Assert.Equal(killedPid, await client.StopAsync(killedId, "kill", timeout.Token));
        var killed = await NextExitAsync(watch, killedId, timeout.Token);
        Assert.Equal((fixture.UserB, 128 + 9), (killed.Username, killed.ExitCode));
    }

    [Fact]
    public async Task The_uep_runs_with_no_way_back_to_privilege()
    {
        using var timeout = new CancellationTokenSource(Deadline);
        var uepId = Guid.NewGuid().ToString();
        var user = Native.GetUserByName(fixture.UserA)!;
        var uid = user.Uid.ToString(CultureInfo.InvariantCulture);
        var gid = user.Gid.ToString(CultureInfo.InvariantCulture);
        await using var watch = await client.OpenWatchAsync(timeout.Token);

        // The script execs sleep once it wrote its report: that is the UEP process the kernel describes below.
        var pid = await client.StartAsync(uepId, fixture.UserA, """{"mode":"wait-for-signal"}""", timeout.Token);
        await ProcFiles.WaitForCommandAsync(pid, "sleep", timeout.Token);

        Assert.Equal(Enumerable.Repeat(uid, 4), ProcFiles.Status(pid, "Uid"));
        Assert.Equal(Enumerable.Repeat(gid, 4), ProcFiles.Status(pid, "Gid"));
        Assert.Equal(Words(await ThrowawayUsers.RunAsync("id", "-G", fixture.UserA)), ProcFiles.Status(pid, "Groups").Order(StringComparer.Ordinal));
        Assert.Equal(["1"], ProcFiles.Status(pid, "NoNewPrivs"));
        foreach (var set in new[] { "CapPrm", "CapEff", "CapAmb" })
        {
            Assert.Equal(["0000000000000000"], ProcFiles.Status(pid, set));
        }

        Assert.Equal(["0077"], ProcFiles.Status(pid, "Umask"));
        Assert.Equal(["0000000000000000"], ProcFiles.Status(pid, "SigIgn")); // the runtime's ignored SIGPIPE is reset
        Assert.Equal(["0000000000000000"], ProcFiles.Status(pid, "SigBlk"));
        Assert.Equal([0, 1, 2], ProcFiles.Descriptors(pid));

        // Its own session (field 6), so the launcher's exit or its process group's signals do not reach it.
        Assert.Equal(pid.ToString(CultureInfo.InvariantCulture), ProcFiles.Stat(pid, 6));

        // The launcher runs with LD_PRELOAD, LD_LIBRARY_PATH, MEP_SECRET and a canary: none reaches the UEP
        // (PWD is the one sh adds itself).
        Assert.Equal(
            ["HOME", "LOGNAME", "MEP_TEST_FIXED", "MEP_UEP_ID", "PATH", "PWD", "SHELL", "USER"],
            ProcFiles.EnvironmentNames(pid));

        await client.StopAsync(uepId, "kill", timeout.Token);
        Assert.Equal(128 + 9, (await NextExitAsync(watch, uepId, timeout.Token)).ExitCode);
    }

    [Fact]
    public async Task Refuses_root_system_unknown_and_malformed_starts_without_starting_anything()
    {
        using var timeout = new CancellationTokenSource(Deadline);
        var ids = Enumerable.Range(0, 5).Select(_ => Guid.NewGuid().ToString()).ToArray();
        var unknown = ThrowawayUsers.UniqueName("meplnone");

        Assert.Equal("user 'root' has uid 0; the launcher never starts anything as root",
            await RefusalAsync(client.StartAsync(ids[0], "root", "{}", timeout.Token)));
        Assert.Equal($"user '{unknown}' does not exist",
            await RefusalAsync(client.StartAsync(ids[1], unknown, "{}", timeout.Token)));
        Assert.Equal("user 'daemon' (uid 1) is below the minimum uid 1000",
            await RefusalAsync(client.StartAsync(ids[2], "daemon", "{}", timeout.Token)));
        Assert.Equal($"stdin document is {LauncherFixture.MaxStdinBytes + 1} bytes; the limit is {LauncherFixture.MaxStdinBytes}",
            await RefusalAsync(client.StartAsync(ids[3], fixture.UserA, new string('x', LauncherFixture.MaxStdinBytes + 1), timeout.Token)));
        Assert.Equal("uep_id 'NOT-A-UUID' is not a canonical lower-case UUID",
            await RefusalAsync(client.StartAsync("NOT-A-UUID", fixture.UserA, "{}", timeout.Token)));
        Assert.Equal($"username 'a;id' is not a valid POSIX username",
            await RefusalAsync(client.StartAsync(ids[4], "a;id", "{}", timeout.Token)));

        var running = await client.ListAsync(timeout.Token);
        Assert.DoesNotContain(running, child => ids.Contains(child.UepId));
        Assert.False(LauncherFixture.ReportExists("/root", ids[0]));
        Assert.False(LauncherFixture.ReportExists(LauncherFixture.Home(fixture.UserA), ids[3]));
    }

    [Fact]
    public async Task Serves_root_and_the_client_user_only()
    {
        using var timeout = new CancellationTokenSource(Deadline);
        var userA = Native.GetUserByName(fixture.UserA)!;
        var daemon = Native.GetUserByName("daemon")!;

        // The socket belongs to root and the client user's group, mode 0660.
        var socket = Native.Stat(fixture.SocketPath, followLinks: false)!.Value;
        Assert.True(socket.IsSocket);
        Assert.Equal((0u, daemon.Gid, 0b110_110_000), (socket.Uid, socket.Gid, socket.Mode & 0b111_111_111));

        // The client user (daemon here) is served.
        var asDaemon = ProtocolJson.Deserialize<LauncherResponse>(await RunClientAsync("daemon", timeout.Token));
        Assert.True(asDaemon.Ok);
        Assert.NotNull(asDaemon.Children);

        // Anyone else cannot even open the socket...
        Assert.Equal("connect failed: Permission denied", await RunClientAsync(fixture.UserA, timeout.Token));

        // ...and if the file mode let them, SO_PEERCRED still turns them away.
        File.SetUnixFileMode(fixture.SocketPath, (UnixFileMode)0b110_110_110);
        try
        {
            var refused = ProtocolJson.Deserialize<LauncherResponse>(await RunClientAsync(fixture.UserA, timeout.Token));
            Assert.False(refused.Ok);
            Assert.Equal($"uid {userA.Uid} may not use this launcher", refused.Error);
        }
        finally
        {
            File.SetUnixFileMode(fixture.SocketPath, (UnixFileMode)0b110_110_000);
        }

        await Mep.Tests.Infrastructure.Poll.TryUntilAsync(
            () => fixture.Output.Contains("Refused connection from pid", StringComparison.Ordinal)
                  && fixture.Output.Contains($"uid {userA.Uid}: not an allowed client", StringComparison.Ordinal),
            Timeout.InfiniteTimeSpan,
            timeout.Token);
    }

    private string Report(string uepId, string name) => LauncherFixture.Report(fixture.UserA, uepId, name);

    private static List<string> Words(string text) =>
        [.. text.Split([' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal)];

    private static async Task<string> RefusalAsync(Task request)
    {
        var refusal = await Assert.ThrowsAsync<LauncherException>(() => request);
        Assert.False(refusal.Unavailable);
        return refusal.Message;
    }

    private static async Task<LauncherEvent> NextExitAsync(LauncherWatch watch, string uepId, CancellationToken cancellationToken)
    {
        await foreach (var exited in watch.ReadAllAsync(cancellationToken))
        {
            if (exited.UepId == uepId)
            {
                return exited;
            }
        }

        throw new InvalidOperationException("the watch ended");
    }

    private Task<string> RunClientAsync(string user, CancellationToken cancellationToken) =>
        PerlClient.RequestAsync(user, fixture.SocketPath, """{"op":"list"}""", cancellationToken);
}
