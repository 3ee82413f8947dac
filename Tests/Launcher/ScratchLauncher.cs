using System.Runtime.Versioning;
using Mep.Grains.Launching;

namespace Mep.Tests.Launcher;

/// <summary>
/// A root launcher of a test's own, in a fresh directory, with the settings that test is about and a state directory;
/// it can be killed and started again on the same socket and state directory. Disposing stops it (which leaves UEPs
/// running, as a launcher with a state directory does) and kills the UEPs the test started.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class ScratchLauncher : IAsyncDisposable
{
    private readonly string[] arguments;
    private readonly HashSet<int> startedPids = [];

    private ScratchLauncher(string[] arguments)
    {
        System.IO.Directory.CreateDirectory(Directory, (UnixFileMode)0b111_101_101);
        this.arguments = [$"--Launcher:SocketPath={SocketPath}", $"--Launcher:StateDirectory={StateDirectory}", .. arguments];
    }

    public string Directory { get; } = Path.Combine(Path.GetTempPath(), ThrowawayUsers.UniqueName("mep-launcher-scratch-"));

    public string SocketPath => Path.Combine(Directory, "launcher.sock");

    public string StateDirectory => Path.Combine(Directory, "state");

    public LauncherClient Client => new(SocketPath);

    public LauncherProcess Process { get; private set; } = null!;

    /// <summary>Starts a launcher with <paramref name="arguments"/> (--Launcher:... settings) and waits until it listens.</summary>
    public static async Task<ScratchLauncher> StartAsync(IEnumerable<string> arguments, CancellationToken cancellationToken)
    {
        var launcher = new ScratchLauncher([.. arguments]);
        await launcher.StartAgainAsync(cancellationToken);
        return launcher;
    }

    /// <summary>Starts the launcher (again) with the same settings.</summary>
    public async Task StartAgainAsync(CancellationToken cancellationToken)
    {
        Process = LauncherProcess.Start(arguments);
        await Process.WaitUntilListeningAsync(SocketPath, cancellationToken);
    }

    /// <summary>Starts a UEP and remembers its pid so that disposing kills it whatever the test did.</summary>
    public async Task<int> StartUepAsync(string uepId, string user, CancellationToken cancellationToken)
    {
        var pid = await Client.StartAsync(uepId, user, "{}", cancellationToken);
        startedPids.Add(pid);
        return pid;
    }

    /// <summary>Kills <paramref name="pid"/> on dispose too (a UEP the test started another way).</summary>
    public int Track(int pid)
    {
        startedPids.Add(pid);
        return pid;
    }

    public async ValueTask DisposeAsync()
    {
        // UEPs first, while the launcher runs: it sees them exit and removes their cgroups.
        foreach (var pid in startedPids)
        {
            // Only if it still is the sleep we started (a pid can be reused after the test let it exit).
            if (ProcFiles.Command(pid) == "sleep")
            {
                Mep.Launcher.Native.Kill(pid, Mep.Launcher.Native.SigKill);
            }
        }

        try
        {
            await Process.DisposeAsync();
        }
        finally
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }
}
