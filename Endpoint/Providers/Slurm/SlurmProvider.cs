using Mep.Protocol.Config;

namespace Mep.Endpoint.Providers.Slurm;

/// <summary>
/// Blocks as Slurm jobs, submitted with sbatch as the user the UEP runs as: one job per block, one worker per node
/// of it (srun). squeue says how live jobs are doing; sacct, when the cluster keeps accounting, says how ended ones
/// ended. A job the provider cancelled itself ends without a reason; any other end carries Slurm's account of it.
/// </summary>
internal sealed class SlurmProvider : IWorkerProvider
{
    private readonly ProviderConfig config;
    private readonly string uepId;
    private readonly SlurmCommands commands;
    private readonly Lock gate = new();

    // Blocks submitted and not yet reported ended, by block id.
    private readonly Dictionary<string, Block> blocks = new(StringComparer.Ordinal);

    /// <exception cref="ProviderException">The settings cannot make a batch script (the message names the setting).</exception>
    public SlurmProvider(ProviderConfig config, string uepId, SlurmCommands commands)
    {
        if (config.Type != ProviderType.Slurm)
        {
            throw new ArgumentException($"a {config.Type} provider config given to the Slurm provider", nameof(config));
        }

        SlurmBatchScript.Validate(config);
        this.config = config;
        this.uepId = uepId;
        this.commands = commands;
    }

    public string Name => "slurm";

    public int WorkersPerBlock => config.NodesPerBlock ?? 1;

    public async Task<BlockInfo> SubmitAsync(WorkerLaunch launch, CancellationToken ct)
    {
        lock (gate)
        {
            if (blocks.ContainsKey(launch.BlockId))
            {
                throw new InvalidOperationException($"block {launch.BlockId} was submitted already");
            }
        }

        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("the Slurm provider runs on Linux");
        }

        var script = SlurmBatchScript.Render(config, uepId, launch);
        Directory.CreateDirectory(launch.LogDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        // Kept next to the block's logs so the user can see (and resubmit) exactly what ran; sbatch reads it on stdin.
        var path = Path.Combine(launch.LogDirectory, SlurmBatchScript.ScriptName);
        var create = new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute,
        };
        await using (var file = new StreamWriter(path, new System.Text.UTF8Encoding(false), create))
        {
            await file.WriteAsync(script.AsMemory(), ct);
        }

        var jobId = await commands.SubmitAsync(script, launch.LogDirectory, ct);
        Log.Info($"slurm: block {launch.BlockId} submitted as job {jobId}");
        lock (gate)
        {
            blocks[launch.BlockId] = new Block(launch.BlockId, jobId);
        }

        return new BlockInfo(launch.BlockId, jobId, BlockState.Pending);
    }

    public async Task<IReadOnlyList<BlockInfo>> PollAsync(CancellationToken ct)
    {
        List<Block> tracked;
        lock (gate)
        {
            tracked = [.. blocks.Values];
        }

        if (tracked.Count == 0)
        {
            return [];
        }

        var jobIds = tracked.Select(b => b.JobId).ToList();
        var queue = (await commands.QueueAsync(jobIds, ct)).ToDictionary(j => j.JobId, StringComparer.Ordinal);

        var ended = tracked.Where(b => !queue.TryGetValue(b.JobId, out var j) || SlurmJobStates.ToBlockState(j.State) == BlockState.Ended).ToList();
        var accounting = ended.Count > 0
            ? (await commands.AccountingAsync([.. ended.Select(b => b.JobId)], ct))?.ToDictionary(j => j.JobId, StringComparer.Ordinal)
            : null;

        var result = new List<BlockInfo>(tracked.Count);
        foreach (var block in tracked)
        {
            queue.TryGetValue(block.JobId, out var fromQueue);
            SlurmJobRecord? fromAccounting = null;
            accounting?.TryGetValue(block.JobId, out fromAccounting);
            if (fromAccounting is not null && SlurmJobStates.ToBlockState(fromAccounting.State) != BlockState.Ended)
            {
                fromAccounting = null; // slurmdbd lags the controller by a moment: trust the queue's final state
            }

            var state = fromQueue is not null ? SlurmJobStates.ToBlockState(fromQueue.State) : BlockState.Ended;
            if (state != BlockState.Ended)
            {
                result.Add(new BlockInfo(block.BlockId, block.JobId, state));
                continue;
            }

            string? reason = null;
            if (!block.Cancelled)
            {
                reason = (fromAccounting ?? fromQueue) is { } record
                    ? SlurmJobStates.EndReason(record)
                    : $"Slurm job {block.JobId} is no longer known to Slurm";
            }

            result.Add(new BlockInfo(block.BlockId, block.JobId, BlockState.Ended, reason));
            lock (gate)
            {
                blocks.Remove(block.BlockId);
            }
        }

        return result;
    }

    public async Task CancelAsync(IReadOnlyCollection<string> blockIds, CancellationToken ct)
    {
        List<string> jobIds = [];
        lock (gate)
        {
            foreach (var id in blockIds)
            {
                if (blocks.TryGetValue(id, out var block))
                {
                    block.Cancelled = true;
                    jobIds.Add(block.JobId);
                }
            }
        }

        if (jobIds.Count > 0)
        {
            Log.Info($"slurm: cancelling job(s) {string.Join(',', jobIds)}");
            await commands.CancelAsync(jobIds, ct);
        }
    }

    /// <summary>Jobs are left as they are: the UEP cancels its blocks when it stops, and a worker exits on its own when its UEP is gone.</summary>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed class Block(string blockId, string jobId)
    {
        public string BlockId { get; } = blockId;

        public string JobId { get; } = jobId;

        /// <summary>Set once we asked Slurm to cancel it: its end is then ours, not a failure to report.</summary>
        public bool Cancelled { get; set; }
    }
}
