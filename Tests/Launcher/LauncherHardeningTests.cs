using System.Globalization;
using System.Runtime.Versioning;
using Mep.Launcher;
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
}
