namespace Mep.Endpoint.Providers;

/// <summary>
/// Where a UEP's workers run: blocks of workers (a block = one batch job, or one group of local processes), started,
/// watched and cancelled by the UEP. The UEP's scaling and lifecycle code sees only this seam, so a scheduler (PBS Pro:
/// qsub/qstat/qdel) is one more implementation.
/// </summary>
internal interface IWorkerProvider : IAsyncDisposable
{
    /// <summary>For logs and messages: <c>local</c>, <c>slurm</c>.</summary>
    string Name { get; }

    /// <summary>Workers per block (nodes per block: one worker per node).</summary>
    int WorkersPerBlock { get; }

    /// <summary>
    /// Starts one block running <paramref name="launch"/>'s worker on each of its nodes, after the worker_init.
    /// Throws <see cref="ProviderException"/> with the scheduler's own message when the block cannot be submitted
    /// (bad account, bad partition): the UEP fails its tasks with it rather than waiting.
    /// </summary>
    Task<BlockInfo> SubmitAsync(WorkerLaunch launch, CancellationToken ct);

    /// <summary>The state of every block this provider started and has not yet reported ended.</summary>
    Task<IReadOnlyList<BlockInfo>> PollAsync(CancellationToken ct);

    /// <summary>Stops the blocks (scancel, or SIGTERM then SIGKILL to local process groups). Idempotent.</summary>
    Task CancelAsync(IReadOnlyCollection<string> blockIds, CancellationToken ct);
}

/// <summary>What a block runs: the worker program with its arguments, started on each node after worker_init.</summary>
/// <param name="Program">The worker program's absolute path (this executable: <c>mep-endpoint</c>).</param>
/// <param name="Arguments">Its arguments (<c>worker --document … --block …</c>); passed as argv, never through a shell string.</param>
/// <param name="WorkerInit">Shell text run in the worker's shell before the worker starts (module load, conda activate); null: none.</param>
/// <param name="LogDirectory">Where the block's stdout/stderr go (a directory of its own under the UEP directory).</param>
internal sealed record WorkerLaunch(
    string BlockId,
    string Program,
    IReadOnlyList<string> Arguments,
    string? WorkerInit,
    string LogDirectory);

public enum BlockState
{
    /// <summary>Submitted, not yet running (queued in the scheduler).</summary>
    Pending,
    Running,

    /// <summary>Over (finished, cancelled or failed): no worker of it runs any more.</summary>
    Ended,
}

/// <param name="JobId">The scheduler's job id; null for local blocks.</param>
/// <param name="Reason">Why it ended, when it did not end because we cancelled it (the scheduler's reason or an exit status).</param>
internal sealed record BlockInfo(string BlockId, string? JobId, BlockState State, string? Reason = null);

/// <summary>The scheduler refused or failed a request; the message is the scheduler's own, fit for the user.</summary>
internal sealed class ProviderException(string message) : Exception(message);
