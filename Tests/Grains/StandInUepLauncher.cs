using Mep.Tests.EndToEnd;
using Mep.Tests.Infrastructure;

namespace Mep.Tests.Grains;

/// <summary>
/// The real launcher, whose UEP program is a stand-in that reads its start document and then waits for its signal: the
/// user endpoint really starts (as the mapped user, through the launcher, with exits reported), but nothing takes its
/// tasks, so a test can play the workers' part with <see cref="UepStandIn"/> and see each state the cluster records.
/// </summary>
internal sealed class StandInUepLauncher : IAsyncDisposable
{
    private const string Script = """
        #!/bin/sh
        # Stand-in user endpoint: takes the start document, then waits until the launcher stops it.
        cat > /dev/null
        exec sleep 600

        """;

    private readonly ManagedProcess _process;

    private StandInUepLauncher(ManagedProcess process, string socket)
    {
        _process = process;
        Socket = socket;
    }

    public string Socket { get; }

    /// <param name="dir">A directory the mapped users can traverse: the script is read from it as them.</param>
    /// <param name="uepScript">The UEP program's shell script; null: the stand-in that waits for its signal.</param>
    /// <param name="launcherArguments">More --Launcher:... settings.</param>
    public static async Task<StandInUepLauncher> StartAsync(string dir, string? uepScript = null, IEnumerable<string>? launcherArguments = null)
    {
        var script = Path.Combine(dir, "stand-in-uep.sh");
        await File.WriteAllTextAsync(script, (uepScript ?? Script).ReplaceLineEndings("\n"));
        File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);
        var socket = Path.Combine(dir, "launcher.sock");
        var process = SiteFixture.StartLauncherProcess("launcher", [
            $"--Launcher:SocketPath={socket}",
            "--Launcher:UepProgram=/bin/sh",
            $"--Launcher:UepProgramArguments:0={script}",
            "--Launcher:ClientUser=daemon",
            "--Launcher:AccountCheckInterval=00:00:01", // the locked-account tests wait for the sweep
            "--Launcher:AccountStopGracePeriod=00:00:05",
            .. launcherArguments ?? [],
        ]);
        var launcher = new StandInUepLauncher(process, socket);
        await Poll.UntilTrue(
            () => process.HasExited
                ? throw new InvalidOperationException($"the launcher exited:\n{process.Output}")
                : Task.FromResult(File.Exists(socket)),
            TimeSpan.FromSeconds(60),
            () => $"launcher socket; output:\n{process.Output}");
        return launcher;
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
