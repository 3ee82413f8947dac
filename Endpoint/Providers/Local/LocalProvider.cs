using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

namespace Mep.Endpoint.Providers.Local;

/// <summary>
/// Blocks of workers as child processes on the UEP's own node (the login node): one worker per block. Each block is
/// <c>setsid /bin/sh -c SCRIPT</c>, so that the block is a process group of its own that <see cref="CancelAsync"/> can
/// signal whole. The script sends output to the block's log files, runs worker_init, then execs the worker; the log
/// paths and the worker's argv reach it as positional parameters, so nothing but worker_init is shell text.
/// </summary>
internal sealed class LocalProvider(TimeSpan cancelGrace) : IWorkerProvider
{
    private const string Script = "exec >>\"$1\" 2>>\"$2\" </dev/null\nshift 2\n";

    private static readonly string? SetsidPath = new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists);

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Block> _blocks = [];

    private sealed class Block(string id, Process process)
    {
        public string Id { get; } = id;
        public Process Process { get; } = process;
        public bool Cancelled { get; set; }
        public bool Reported { get; set; }
    }

    public string Name => "local";

    public int WorkersPerBlock => 1;

    public Task<BlockInfo> SubmitAsync(WorkerLaunch launch, CancellationToken ct)
    {
        Directory.CreateDirectory(launch.LogDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var psi = new ProcessStartInfo
        {
            FileName = SetsidPath ?? "/bin/sh",
            UseShellExecute = false,
            WorkingDirectory = Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } home && Directory.Exists(home) ? home : Environment.CurrentDirectory,
        };
        if (SetsidPath is not null)
        {
            psi.ArgumentList.Add("/bin/sh");
        }

        psi.ArgumentList.Add("-c");
        TrustStoreLocation.ForChild(psi);
        psi.ArgumentList.Add(Script + (string.IsNullOrWhiteSpace(launch.WorkerInit) ? "" : launch.WorkerInit + "\n") + "exec \"$@\"\n");
        psi.ArgumentList.Add("mep-worker-block");
        psi.ArgumentList.Add(Path.Combine(launch.LogDirectory, "worker.out"));
        psi.ArgumentList.Add(Path.Combine(launch.LogDirectory, "worker.err"));
        psi.ArgumentList.Add(launch.Program);
        foreach (var arg in launch.Arguments)
        {
            psi.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is Win32Exception or InvalidOperationException)
        {
            process.Dispose();
            throw new ProviderException($"cannot start a local worker: {e.Message}");
        }

        lock (_gate)
        {
            _blocks[launch.BlockId] = new Block(launch.BlockId, process);
        }

        return Task.FromResult(new BlockInfo(launch.BlockId, null, BlockState.Running));
    }

    public Task<IReadOnlyList<BlockInfo>> PollAsync(CancellationToken ct)
    {
        var result = new List<BlockInfo>();
        lock (_gate)
        {
            foreach (var block in _blocks.Values.ToList())
            {
                if (!block.Process.HasExited)
                {
                    result.Add(new BlockInfo(block.Id, null, BlockState.Running));
                    continue;
                }

                // Reported ended once, then forgotten: the caller keeps its own record.
                var code = block.Process.ExitCode;
                result.Add(new BlockInfo(block.Id, null, BlockState.Ended,
                    block.Cancelled ? null : string.Create(CultureInfo.InvariantCulture, $"worker exited with status {code}")));
                _blocks.Remove(block.Id);
                block.Process.Dispose();
            }
        }

        return Task.FromResult<IReadOnlyList<BlockInfo>>(result);
    }

    /// <summary>SIGTERM to each block's process group (the worker hands its tasks back), SIGKILL after the grace period.</summary>
    public async Task CancelAsync(IReadOnlyCollection<string> blockIds, CancellationToken ct)
    {
        List<Block> targets;
        lock (_gate)
        {
            targets = blockIds.Select(id => _blocks.GetValueOrDefault(id)).OfType<Block>().ToList();
        }

        foreach (var block in targets)
        {
            block.Cancelled = true;
            Signal(block, Native.SIGTERM);
        }

        await Task.WhenAll(targets.Select(b => KillAfterGraceAsync(b, ct))).ConfigureAwait(false);
    }

    private async Task KillAfterGraceAsync(Block block, CancellationToken ct)
    {
        try
        {
            await block.Process.WaitForExitAsync(ct).WaitAsync(cancelGrace, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Log.Warn($"local block {block.Id} did not stop within {cancelGrace.TotalSeconds:0} s of SIGTERM; killing it");
            Signal(block, Native.SIGKILL);
        }
    }

    private static void Signal(Block block, int signal)
    {
        try
        {
            if (block.Process.HasExited)
            {
                return;
            }

            // With setsid the shell (then the worker it execs) leads its own group: signal the group, not just the leader.
            var target = SetsidPath is null ? block.Process.Id : -block.Process.Id;
            _ = Native.Kill(target, signal);
        }
        catch (InvalidOperationException)
        {
            // Not started or already reaped.
        }
    }

    public async ValueTask DisposeAsync()
    {
        List<string> ids;
        lock (_gate)
        {
            ids = [.. _blocks.Keys];
        }

        await CancelAsync(ids, CancellationToken.None).ConfigureAwait(false);
        lock (_gate)
        {
            foreach (var block in _blocks.Values)
            {
                block.Process.Dispose();
            }

            _blocks.Clear();
        }
    }
}
