using Mep.Grains.Launching;
using Mep.Launcher;
using Xunit;

namespace Mep.Tests.Launcher;

/// <summary>
/// The launcher applies its start rules to running UEPs too: when an account expires, is locked or deleted, its UEP is
/// stopped (SIGTERM, SIGKILL after the grace period) and the exit event says why; other users' UEPs run on.
/// </summary>
public sealed class AccountSweepTests : IAsyncLifetime
{
    private readonly CancellationTokenSource timeout = new(TimeSpan.FromSeconds(120));
    private readonly string erin = ThrowawayUsers.UniqueName("mepse");
    private readonly string frank = ThrowawayUsers.UniqueName("mepsf");

    public async Task InitializeAsync()
    {
        await ThrowawayUsers.CreateUserAsync(erin);
        await ThrowawayUsers.CreateUserAsync(frank);
    }

    public async Task DisposeAsync()
    {
        await ThrowawayUsers.DeleteUserAsync(erin);
        if (Native.GetUserByName(frank) is not null)
        {
            await ThrowawayUsers.DeleteUserAsync(frank);
        }

        timeout.Dispose();
    }

    [Fact]
    public async Task An_expired_account_loses_its_running_uep_with_sigkill_after_the_grace_period_and_others_run_on()
    {
        // The UEP ignores SIGTERM (ignored signals stay ignored across exec), so only the SIGKILL ends it.
        await using var launcher = await ScratchLauncher.StartAsync(
        [
            "--Launcher:UepProgram=/bin/sh", "--Launcher:UepProgramArguments:0=-c", "--Launcher:UepProgramArguments:1=trap '' TERM; exec sleep 600",
            "--Launcher:AccountCheckInterval=00:00:01", "--Launcher:AccountStopGracePeriod=00:00:03",
        ], timeout.Token);
        await using var watch = await launcher.Client.OpenWatchAsync(timeout.Token);
        var (erinUep, erinPid, frankUep, frankPid) = await StartBothAsync(launcher);

        await ThrowawayUsers.RunAsync("usermod", "--expiredate", "1", erin);
        var expiredAt = DateTimeOffset.UtcNow;
        await foreach (var exited in watch.ReadAllAsync(timeout.Token))
        {
            Assert.Equal((erinUep, erinPid, 128 + 9), (exited.UepId, exited.Pid, exited.ExitCode));
            Assert.Equal($"the account of user '{erin}' expired on 1970-01-02", exited.Reason);
            Assert.True(exited.At - expiredAt >= TimeSpan.FromSeconds(2.9), $"killed {exited.At - expiredAt} after the expiry: no grace period");
            break;
        }

        Assert.True(ProcFiles.IsRunning(frankPid), "another user's UEP was stopped too");
        Assert.DoesNotContain((await launcher.Client.ListAsync(timeout.Token)), c => c.UepId == erinUep);
        var refused = await Assert.ThrowsAsync<LauncherException>(() => launcher.Client.StartAsync(Guid.NewGuid().ToString(), erin, "{}", timeout.Token));
        Assert.Contains("expired", refused.Message);
    }

    [Fact]
    public async Task A_locked_or_deleted_account_loses_its_running_uep_at_sigterm()
    {
        await using var launcher = await ScratchLauncher.StartAsync(
        [
            "--Launcher:UepProgram=/bin/sleep", "--Launcher:UepProgramArguments:0=600", "--Launcher:RefuseLockedPasswords=true",
            "--Launcher:AccountCheckInterval=00:00:01", "--Launcher:AccountStopGracePeriod=00:00:30",
        ], timeout.Token);

        // useradd leaves the password field "!" (locked): give both a (useless) password so that they may start.
        await ThrowawayUsers.RunAsync("usermod", "--password", "x", erin);
        await ThrowawayUsers.RunAsync("usermod", "--password", "x", frank);
        await using var watch = await launcher.Client.OpenWatchAsync(timeout.Token);
        var (erinUep, _, frankUep, _) = await StartBothAsync(launcher);

        await ThrowawayUsers.RunAsync("usermod", "--lock", erin);
        await ThrowawayUsers.RunAsync("userdel", "--force", frank);
        var reasons = new Dictionary<string, string?>();
        await foreach (var exited in watch.ReadAllAsync(timeout.Token))
        {
            Assert.Equal(128 + 15, exited.ExitCode); // SIGTERM was enough, long before the 30 s grace period
            reasons[exited.UepId] = exited.Reason;
            if (reasons.Count == 2)
            {
                break;
            }
        }

        Assert.Equal($"user '{erin}' is locked (its shadow password field starts with '!')", reasons[erinUep]);
        Assert.Equal($"user '{frank}' does not exist", reasons[frankUep]);
    }

    /// <summary>A UEP each for Erin and Frank, both running their program.</summary>
    private async Task<(string ErinUep, int ErinPid, string FrankUep, int FrankPid)> StartBothAsync(ScratchLauncher launcher)
    {
        var (erinUep, frankUep) = (Guid.NewGuid().ToString(), Guid.NewGuid().ToString());
        var erinPid = await launcher.StartUepAsync(erinUep, erin, timeout.Token);
        var frankPid = await launcher.StartUepAsync(frankUep, frank, timeout.Token);
        await ProcFiles.WaitForCommandAsync(erinPid, "sleep", timeout.Token);
        await ProcFiles.WaitForCommandAsync(frankPid, "sleep", timeout.Token);
        return (erinUep, erinPid, frankUep, frankPid);
    }
}
