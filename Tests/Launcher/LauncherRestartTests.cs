using System.Globalization;
using Mep.Launcher;
using Mep.Protocol;
using Mep.Protocol.Launcher;
using Xunit;

namespace Mep.Tests.Launcher;

/// <summary>
/// Restarting the launcher does not kill running UEPs: it records them in its state directory, leaves them running
/// when it dies or stops, and the next launcher adopts the live ones (same pid and start time), lists them, signals
/// them and reports their exits.
/// </summary>
public sealed class LauncherRestartTests : IAsyncLifetime
{
    private readonly CancellationTokenSource timeout = new(TimeSpan.FromSeconds(120));
    private readonly string user = ThrowawayUsers.UniqueName("meplr");

    public async Task InitializeAsync() => await ThrowawayUsers.CreateUserAsync(user);

    public async Task DisposeAsync()
    {
        await ThrowawayUsers.DeleteUserAsync(user);
        timeout.Dispose();
    }

    [Fact]
    public async Task Uep_processes_outlive_the_launcher_and_the_next_one_adopts_them()
    {
        await using var launcher = await ScratchLauncher.StartAsync(
            ["--Launcher:UepProgram=/bin/sleep", "--Launcher:UepProgramArguments:0=600"], timeout.Token);
        var account = Native.GetUserByName(user)!;
        string[] ids = [Guid.NewGuid().ToString(), Guid.NewGuid().ToString()];
        int[] pids = [await launcher.StartUepAsync(ids[0], user, timeout.Token), await launcher.StartUepAsync(ids[1], user, timeout.Token)];
        foreach (var pid in pids)
        {
            await ProcFiles.WaitForCommandAsync(pid, "sleep", timeout.Token);
        }

        var before = (await launcher.Client.ListAsync(timeout.Token)).OrderBy(c => c.Pid).ToList();

        // The records are root's alone.
        var directory = Native.Stat(launcher.StateDirectory, followLinks: false)!.Value;
        Assert.Equal((0u, 0b111_000_000), (directory.Uid, directory.Mode & 0b111_111_111));
        foreach (var id in ids)
        {
            var record = Native.Stat(Path.Combine(launcher.StateDirectory, id + ".json"), followLinks: false)!.Value;
            Assert.Equal((0u, 0b110_000_000), (record.Uid, record.Mode & 0b111_111_111));
        }

        // A record whose pid now names another process (this test, with another start time) must not be adopted.
        var stale = Guid.NewGuid().ToString();
        var staleRecord = Path.Combine(launcher.StateDirectory, stale + ".json");
        await File.WriteAllTextAsync(staleRecord, ProtocolJson.Serialize(
            new ChildRecord(stale, user, (int)account.Uid, Environment.ProcessId, 1, DateTimeOffset.UtcNow)), timeout.Token);

        // Crash: SIGKILL. The UEPs run on in their own sessions.
        Assert.Equal(128 + 9, await launcher.Process.KillAsync());
        Assert.All(pids, pid => Assert.True(ProcFiles.IsRunning(pid) && ProcFiles.Command(pid) == "sleep"));

        await launcher.StartAgainAsync(timeout.Token);
        var adopted = (await launcher.Client.ListAsync(timeout.Token)).OrderBy(c => c.Pid).ToList();
        Assert.Equal(before, adopted);
        Assert.Equal(pids.Order(), adopted.Select(c => c.Pid));
        Assert.All(adopted, c => Assert.Equal((user, (int)account.Uid), (c.Username, c.Uid)));
        Assert.False(File.Exists(staleRecord));
        await launcher.Process.WaitForOutputAsync($"UEP {stale} ({user}, pid {Environment.ProcessId}) ended while no launcher watched it", timeout.Token);

        // Its exit, by someone else's hand, reaches watchers (the status itself went to init, not to this launcher).
        await using (var watch = await launcher.Client.OpenWatchAsync(timeout.Token))
        {
            Assert.Equal(0, Native.Kill(pids[0], Native.SigKill));
            var exited = await NextExitAsync(watch, timeout.Token);
            Assert.Equal((ids[0], user, pids[0], -1), (exited.UepId, exited.Username, exited.Pid, exited.ExitCode));
            Assert.Equal("exit status unknown: the launcher was restarted while this UEP ran", exited.StderrTail);
        }

        Assert.Equal([ids[1]], (await launcher.Client.ListAsync(timeout.Token)).Select(c => c.UepId));
        Assert.False(File.Exists(Path.Combine(launcher.StateDirectory, ids[0] + ".json")));

        // An orderly stop (SIGTERM, as systemctl restart) leaves it running too; the next launcher can stop it.
        Assert.Equal(0, await launcher.Process.StopAsync());
        Assert.True(ProcFiles.IsRunning(pids[1]) && ProcFiles.Command(pids[1]) == "sleep");
        await launcher.StartAgainAsync(timeout.Token);
        await using (var watch = await launcher.Client.OpenWatchAsync(timeout.Token))
        {
            Assert.Equal(pids[1], await launcher.Client.StopAsync(ids[1], "term", timeout.Token));
            var exited = await NextExitAsync(watch, timeout.Token);
            Assert.Equal((ids[1], pids[1]), (exited.UepId, exited.Pid));
        }

        Assert.Empty(await launcher.Client.ListAsync(timeout.Token));
        Assert.Empty(Directory.GetFiles(launcher.StateDirectory));
        Assert.False(ProcFiles.IsRunning(pids[1]));
    }

    private static async Task<LauncherEvent> NextExitAsync(Mep.Grains.Launching.LauncherWatch watch, CancellationToken cancellationToken)
    {
        await foreach (var exited in watch.ReadAllAsync(cancellationToken))
        {
            return exited;
        }

        throw new InvalidOperationException("the watch ended");
    }
}
