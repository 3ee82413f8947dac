using System.Globalization;
using System.Runtime.Versioning;
using Mep.Grains.Launching;
using Mep.Launcher;
using Mep.Protocol;
using Mep.Protocol.Launcher;
using Xunit;

namespace Mep.Tests.Launcher;

/// <summary>
/// The real launcher run by an ordinary user (a personal endpoint): it serves only that user's uid and starts UEPs
/// only as that user. The program is copied to a world-readable directory so that the user can run it.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class PersonalLauncherTests : IAsyncLifetime
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), ThrowawayUsers.UniqueName("mep-launcher-personal-"));
    private readonly string user = ThrowawayUsers.UniqueName("meplp");
    private readonly CancellationTokenSource timeout = new(TimeSpan.FromSeconds(60));
    private LauncherProcess? launcher;
    private UnixUser account = null!;

    private string SocketPath => Path.Combine(account.Home, "launcher.sock");

    public async Task InitializeAsync()
    {
        const UnixFileMode readable = (UnixFileMode)0b111_101_101;
        Directory.CreateDirectory(directory, readable);
        var programDirectory = Path.Combine(directory, "launcher");
        CopyDirectory(LauncherProcess.ProgramDirectory(), programDirectory);
        var script = Path.Combine(directory, "uep.sh");
        await File.WriteAllTextAsync(script, LauncherFixture.UepScript.ReplaceLineEndings("\n") + "\n");
        File.SetUnixFileMode(script, readable);

        await ThrowawayUsers.CreateUserAsync(user);
        account = Native.GetUserByName(user)!;
        launcher = LauncherProcess.Start(
            [$"--Launcher:SocketPath={SocketPath}", "--Launcher:UepProgram=/bin/sh", $"--Launcher:UepProgramArguments:0={script}"],
            new Dictionary<string, string> { ["HOME"] = account.Home, ["PATH"] = "/usr/bin:/bin" },
            userName: user,
            directory: programDirectory);
        await launcher.WaitUntilListeningAsync(SocketPath, timeout.Token);
    }

    public async Task DisposeAsync()
    {
        try
        {
            if (launcher is not null)
            {
                await launcher.DisposeAsync();
            }
        }
        finally
        {
            await ThrowawayUsers.DeleteUserAsync(user);
            Directory.Delete(directory, recursive: true);
            timeout.Dispose();
        }
    }

    [Fact]
    public async Task Serves_only_its_own_user_and_starts_only_as_that_user()
    {
        // Not even root is served: the personal launcher talks to its own uid only.
        var root = await Assert.ThrowsAsync<LauncherException>(() => new LauncherClient(SocketPath).ListAsync(timeout.Token));
        Assert.Equal("uid 0 may not use this launcher", root.Message);

        var other = await StartAsync(Guid.NewGuid().ToString(), "daemon");
        Assert.Equal($"this personal launcher runs endpoints only for user '{user}', not 'daemon'", other.Error);

        var uepId = Guid.NewGuid().ToString();
        var started = await StartAsync(uepId, user);
        Assert.True(started.Ok, started.Error);
        await launcher!.WaitForOutputAsync($"UEP {uepId} ({user}, pid {started.Pid}) exited with code 7", timeout.Token);

        Assert.Equal(account.Uid.ToString(CultureInfo.InvariantCulture), LauncherFixture.Report(user, uepId, "uid").Trim());
        Assert.Equal(account.Home, LauncherFixture.Report(user, uepId, "pwd").Trim());
        Assert.Equal("{}", LauncherFixture.Report(user, uepId, "stdin"));
        Assert.Equal(0, await launcher.StopAsync());
    }

    private async Task<LauncherResponse> StartAsync(string uepId, string username)
    {
        var request = ProtocolJson.Serialize(new LauncherRequest(LauncherOp.Start, uepId, username, "{}"));
        return ProtocolJson.Deserialize<LauncherResponse>(await PerlClient.RequestAsync(user, SocketPath, request, timeout.Token));
    }

    private static void CopyDirectory(string source, string target)
    {
        Directory.CreateDirectory(target, (UnixFileMode)0b111_101_101);
        foreach (var file in Directory.GetFiles(source))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }

        foreach (var child in Directory.GetDirectories(source))
        {
            CopyDirectory(child, Path.Combine(target, Path.GetFileName(child)));
        }
    }
}
