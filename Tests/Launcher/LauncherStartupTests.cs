using System.Runtime.Versioning;
using Mep.Grains.Launching;
using Mep.Launcher;
using Xunit;

namespace Mep.Tests.Launcher;

/// <summary>The real launcher program (as root): what it refuses at start, its socket's life cycle.</summary>
[SupportedOSPlatform("linux")]
public sealed class LauncherStartupTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), ThrowawayUsers.UniqueName("mep-launcher-start-"));
    private readonly CancellationTokenSource timeout = new(TimeSpan.FromSeconds(60));

    public LauncherStartupTests() => Directory.CreateDirectory(directory, (UnixFileMode)0b111_101_101);

    private string SocketPath => Path.Combine(directory, "launcher.sock");

    public void Dispose()
    {
        timeout.Dispose();
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public async Task Refuses_to_start_with_an_unsafe_configuration_and_names_each_problem()
    {
        await using var launcher = LauncherProcess.Start(
            ["--Launcher:SocketPath=launcher.sock", "--Launcher:UepProgram=/etc/passwd", "--Launcher:MinUid=0"]);

        Assert.Equal(2, await launcher.WaitForExitAsync(timeout.Token));
        Assert.Contains("mep-launcher: Launcher:SocketPath must be an absolute path", launcher.Output, StringComparison.Ordinal);
        Assert.Contains("mep-launcher: Launcher:UepProgram /etc/passwd is not an executable file", launcher.Output, StringComparison.Ordinal);
        Assert.Contains("mep-launcher: Launcher:MinUid must be at least 1", launcher.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refuses_a_config_file_others_can_write()
    {
        var config = Path.Combine(directory, "launcher.json");
        await File.WriteAllTextAsync(config, """{ "Launcher": { "UepProgram": "/bin/sh" } }""", timeout.Token);
        File.SetUnixFileMode(config, (UnixFileMode)0b110_110_110);
        await using var launcher = LauncherProcess.Start(["--config", config, $"--Launcher:SocketPath={SocketPath}"]);

        Assert.Equal(1, await launcher.WaitForExitAsync(timeout.Token));
        Assert.Contains($"mep-launcher: config file {config} is writable by group or others", launcher.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(SocketPath));
    }

    [Fact]
    public async Task Replaces_a_stale_socket_refuses_a_second_launcher_and_removes_its_socket_on_sigterm()
    {
        // A socket file nobody listens on, as a crashed launcher leaves it.
        string[] arguments = [$"--Launcher:SocketPath={SocketPath}", "--Launcher:UepProgram=/bin/sh"];
        await using (var crashed = LauncherProcess.Start(arguments))
        {
            await crashed.WaitUntilListeningAsync(SocketPath, timeout.Token);
            Assert.Equal(128 + 9, await crashed.KillAsync());
        }

        Assert.True(Native.Stat(SocketPath, followLinks: false)!.Value.IsSocket);
        await using var first = LauncherProcess.Start(arguments);
        await first.WaitUntilListeningAsync(SocketPath, timeout.Token);
        await first.WaitForOutputAsync($"Removed stale socket {SocketPath}", timeout.Token); // the log is asynchronous
        Assert.Empty(await new LauncherClient(SocketPath).ListAsync(timeout.Token));

        // Without a client user only root may connect: the socket is root's alone.
        var socket = Native.Stat(SocketPath, followLinks: false)!.Value;
        Assert.Equal((0u, 0b110_000_000), (socket.Uid, socket.Mode & 0b111_111_111));

        await using (var second = LauncherProcess.Start(arguments))
        {
            Assert.Equal(1, await second.WaitForExitAsync(timeout.Token));
            Assert.Contains($"mep-launcher: another launcher is already listening on {SocketPath}", second.Output, StringComparison.Ordinal);
        }

        Assert.Empty(await new LauncherClient(SocketPath).ListAsync(timeout.Token));
        Assert.Equal(0, await first.StopAsync());
        Assert.False(File.Exists(SocketPath));
    }

    [Fact]
    public async Task Refuses_a_socket_directory_others_can_write()
    {
        var open = Path.Combine(directory, "open");
        Directory.CreateDirectory(open);
        File.SetUnixFileMode(open, (UnixFileMode)0b111_111_111);
        await using var launcher = LauncherProcess.Start(
            [$"--Launcher:SocketPath={Path.Combine(open, "launcher.sock")}", "--Launcher:UepProgram=/bin/sh"]);

        Assert.Equal(1, await launcher.WaitForExitAsync(timeout.Token));
        Assert.Contains($"mep-launcher: socket directory {open} must be owned by root and not writable by group or others",
            launcher.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refuses_a_state_directory_others_can_read()
    {
        var state = Path.Combine(directory, "state");
        Directory.CreateDirectory(state);
        File.SetUnixFileMode(state, (UnixFileMode)0b111_101_101);
        await using var launcher = LauncherProcess.Start(
            [$"--Launcher:SocketPath={SocketPath}", "--Launcher:UepProgram=/bin/sh", $"--Launcher:StateDirectory={state}"]);

        Assert.Equal(1, await launcher.WaitForExitAsync(timeout.Token));
        Assert.Contains($"mep-launcher: state directory {state} must be a directory owned by uid 0 with mode 0700 (no group or other access)",
            launcher.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(SocketPath));
    }
}
