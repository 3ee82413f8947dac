using System.Globalization;
using System.Runtime.Versioning;
using Mep.Launcher;
using Mep.Protocol;
using Mep.Protocol.Launcher;
using Xunit;

namespace Mep.Tests.Launcher;

/// <summary>
/// The launcher's hardening settings, each with a root launcher of its own (<see cref="ScratchLauncher"/>) and a
/// throwaway user; the UEP program is /bin/sleep, which opens nothing of its own.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class LauncherHardeningTests : IAsyncLifetime
{
    private readonly CancellationTokenSource timeout = new(TimeSpan.FromSeconds(90));
    private readonly string user = ThrowawayUsers.UniqueName("meplh");

    public async Task InitializeAsync() => await ThrowawayUsers.CreateUserAsync(user);

    public async Task DisposeAsync()
    {
        await ThrowawayUsers.DeleteUserAsync(user);
        timeout.Dispose();
    }

    [Fact]
    public async Task No_new_privileges_and_the_umask_are_settings()
    {
        await using var launcher = await ScratchLauncher.StartAsync(
            ["--Launcher:UepProgram=/bin/sleep", "--Launcher:UepProgramArguments:0=600",
             "--Launcher:NoNewPrivileges=false", "--Launcher:Umask=027"],
            timeout.Token);
        var account = Native.GetUserByName(user)!;

        var pid = await launcher.StartUepAsync(Guid.NewGuid().ToString(), user, timeout.Token);
        await ProcFiles.WaitForCommandAsync(pid, "sleep", timeout.Token);

        Assert.Equal(["0"], ProcFiles.Status(pid, "NoNewPrivs"));
        Assert.Equal(["0027"], ProcFiles.Status(pid, "Umask"));
        Assert.Equal(Enumerable.Repeat(account.Uid.ToString(CultureInfo.InvariantCulture), 4), ProcFiles.Status(pid, "Uid"));
        Assert.Equal(["0000000000000000"], ProcFiles.Status(pid, "CapEff"));
        Assert.Equal([0, 1, 2], ProcFiles.Descriptors(pid));
        Assert.Equal(["HOME", "LOGNAME", "MEP_UEP_ID", "PATH", "SHELL", "USER"], ProcFiles.EnvironmentNames(pid));
    }

    [Fact]
    public async Task A_failing_pre_exec_step_reports_why_as_the_exit()
    {
        // The user's home is gone: the step cannot enter it as the user, says so on stderr and exits 125.
        await using var launcher = await ScratchLauncher.StartAsync(
            ["--Launcher:UepProgram=/bin/sleep", "--Launcher:UepProgramArguments:0=600"], timeout.Token);
        var home = Native.GetUserByName(user)!.Home;
        Directory.Delete(home, recursive: true);
        await using var watch = await launcher.Client.OpenWatchAsync(timeout.Token);

        var uepId = Guid.NewGuid().ToString();
        var pid = await launcher.StartUepAsync(uepId, user, timeout.Token);
        await foreach (var exited in watch.ReadAllAsync(timeout.Token))
        {
            Assert.Equal((uepId, pid, 125), (exited.UepId, exited.Pid, exited.ExitCode));
            Assert.Equal($"mep-launcher: cannot start the UEP: cannot enter home directory {home}: No such file or directory",
                exited.StderrTail);
            return;
        }

        Assert.Fail("the watch ended without an exit");
    }

    [Fact]
    public async Task Refuses_locked_and_expired_accounts_and_requests_naming_anything_else()
    {
        await using var launcher = await ScratchLauncher.StartAsync(
            ["--Launcher:UepProgram=/bin/sleep", "--Launcher:UepProgramArguments:0=600", "--Launcher:RefuseLockedPasswords=true"],
            timeout.Token);
        var ids = Enumerable.Range(0, 4).Select(_ => Guid.NewGuid().ToString()).ToArray();

        // useradd leaves the password field "!": locked, when the launcher is told to care (the other launcher tests
        // run with the default and start such users).
        Assert.Equal($"user '{user}' is locked (its shadow password field starts with '!')",
            await RefusalAsync(launcher.Client.StartAsync(ids[0], user, "{}", timeout.Token)));

        // "*": no password, other ways in allowed. The account runs.
        await ThrowawayUsers.RunAsync("usermod", "--password", "*", user);
        var pid = await launcher.StartUepAsync(ids[1], user, timeout.Token);
        await ProcFiles.WaitForCommandAsync(pid, "sleep", timeout.Token);
        await launcher.Client.StopAsync(ids[1], "kill", timeout.Token);

        // Expired on 1970-01-02 (day 1), as usermod -e 1 locks an account.
        await ThrowawayUsers.RunAsync("usermod", "--expiredate", "1970-01-02", user);
        Assert.Equal($"the account of user '{user}' expired on 1970-01-02",
            await RefusalAsync(launcher.Client.StartAsync(ids[2], user, "{}", timeout.Token)));

        // The request cannot name a program (or anything else the protocol does not know): the whole line is refused.
        await ThrowawayUsers.RunAsync("usermod", "--expiredate", "", user);
        var naming = $$"""{"op":"start","uep_id":"{{ids[3]}}","username":"{{user}}","stdin":"{}","program":"/bin/bash"}""";
        var answer = await PerlClient.RequestAsync("root", launcher.SocketPath, naming, timeout.Token);
        Assert.StartsWith("""{"ok":false,"error":"malformed request: """, answer, StringComparison.Ordinal);
        Assert.Contains("program", answer, StringComparison.Ordinal);

        var running = await launcher.Client.ListAsync(timeout.Token);
        Assert.DoesNotContain(running, child => child.UepId == ids[0] || child.UepId == ids[2] || child.UepId == ids[3]);
    }

    [Fact]
    public async Task Resource_limits_from_the_request_are_set_hard_up_to_the_configured_maxima()
    {
        await using var launcher = await ScratchLauncher.StartAsync(
            ["--Launcher:UepProgram=/bin/sleep", "--Launcher:UepProgramArguments:0=600",
             "--Launcher:MaxOpenFiles=256", "--Launcher:MaxAddressSpaceBytes=8589934592"],
            timeout.Token);

        var asked = Guid.NewGuid().ToString();
        var answer = await StartWithLimitsAsync(launcher, asked, new UepResourceLimits(40, 64, 1L << 30));
        Assert.True(answer.Ok, answer.Error);
        var pid = launcher.Track(answer.Pid!.Value);
        await ProcFiles.WaitForCommandAsync(pid, "sleep", timeout.Token);
        Assert.Equal(("40", "40"), Limit(pid, "Max processes"));
        Assert.Equal(("64", "64"), Limit(pid, "Max open files"));
        Assert.Equal(("1073741824", "1073741824"), Limit(pid, "Max address space"));
        await launcher.Client.StopAsync(asked, "kill", timeout.Token);

        // Nothing asked: the maxima apply, and no limit where there is none.
        var defaulted = Guid.NewGuid().ToString();
        var defaultPid = await launcher.StartUepAsync(defaulted, user, timeout.Token);
        await ProcFiles.WaitForCommandAsync(defaultPid, "sleep", timeout.Token);
        Assert.Equal(("256", "256"), Limit(defaultPid, "Max open files"));
        Assert.Equal(("8589934592", "8589934592"), Limit(defaultPid, "Max address space"));
        Assert.Equal(File.ReadLines("/proc/self/limits").Single(l => l.StartsWith("Max processes", StringComparison.Ordinal)),
            File.ReadLines($"/proc/{defaultPid}/limits").Single(l => l.StartsWith("Max processes", StringComparison.Ordinal)));

        var refused = await StartWithLimitsAsync(launcher, Guid.NewGuid().ToString(), new UepResourceLimits(OpenFiles: 257));
        Assert.Equal((false, "limits.open_files 257 is above the launcher's maximum 256"), (refused.Ok, refused.Error));
    }

    private async Task<LauncherResponse> StartWithLimitsAsync(ScratchLauncher launcher, string uepId, UepResourceLimits limits)
    {
        var request = ProtocolJson.Serialize(new LauncherRequest(LauncherOp.Start, uepId, user, "{}", Limits: limits));
        return ProtocolJson.Deserialize<LauncherResponse>(await PerlClient.RequestAsync("root", launcher.SocketPath, request, timeout.Token));
    }

    // A line of /proc/<pid>/limits: "Max open files            64                   64                   files".
    private static (string Soft, string Hard) Limit(int pid, string name)
    {
        var line = File.ReadLines($"/proc/{pid}/limits").Single(l => l.StartsWith(name, StringComparison.Ordinal));
        var words = line[name.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return (words[0], words[1]);
    }

    private static async Task<string> RefusalAsync(Task request)
    {
        var refusal = await Assert.ThrowsAsync<Mep.Grains.Launching.LauncherException>(() => request);
        Assert.False(refusal.Unavailable);
        return refusal.Message;
    }
}
