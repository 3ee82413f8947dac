namespace Mep.Endpoint.Providers.Slurm;

/// <summary>Slurm's job states (squeue %T, sacct State) as block states.</summary>
internal static class SlurmJobStates
{
    // Not running workers now, but will (or may, once released): the block is still coming.
    private static readonly string[] PendingStates =
        ["PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED", "STOPPED"];

    // Workers are (or were until a moment ago) on the nodes.
    private static readonly string[] RunningStates = ["RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT", "RESIZING"];

    /// <summary>The block state of a Slurm state; anything else (COMPLETED, CANCELLED, FAILED, TIMEOUT, NODE_FAIL…) is Ended.</summary>
    public static BlockState ToBlockState(string slurmState)
    {
        // sacct writes "CANCELLED by 1001"; the first word is the state.
        var state = slurmState.Trim().Split(' ', 2)[0].TrimEnd('+').ToUpperInvariant();
        if (PendingStates.Contains(state, StringComparer.Ordinal))
        {
            return BlockState.Pending;
        }

        return RunningStates.Contains(state, StringComparer.Ordinal) ? BlockState.Running : BlockState.Ended;
    }

    /// <summary>Why an ended job ended, for the user: the state, its exit code when it failed, Slurm's reason when it gave one.</summary>
    public static string EndReason(SlurmJobRecord job)
    {
        var text = $"Slurm job {job.JobId} ended: {job.State.Trim()}";
        if (job.ExitCode.Length > 0 && job.ExitCode != "0:0")
        {
            text += $", exit code {job.ExitCode}";
        }

        if (job.Reason.Length > 0 && job.Reason != "None")
        {
            text += $" ({job.Reason})";
        }

        return text;
    }
}
