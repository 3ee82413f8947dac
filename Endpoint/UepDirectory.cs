namespace Mep.Endpoint;

/// <summary>
/// A UEP's own directory, <c>~/.mep/endpoints/{uep id}/</c> (0700): the worker document, the workers' status files,
/// per-task attempt counts, batch scripts and block logs. Under the home directory because batch jobs on compute
/// nodes must read it (home is shared across an HPC cluster), and because it belongs to the user.
/// </summary>
internal sealed class UepDirectory(string path)
{
    public string Path { get; } = path;

    /// <summary>The worker document (0600): broker credentials and limits for the workers.</summary>
    public string WorkerDocumentPath => System.IO.Path.Combine(Path, "worker.json");

    /// <summary>Refreshed by the UEP every heartbeat; workers exit when it goes stale.</summary>
    public string ManagerAlivePath => System.IO.Path.Combine(Path, "manager.alive");

    /// <summary>One <see cref="Worker.WorkerStatus"/> file per worker.</summary>
    public string WorkersPath => System.IO.Path.Combine(Path, "workers");

    /// <summary>One file per task being run: how many runs of it began (and did not end in a result or a hand-back).</summary>
    public string AttemptsPath => System.IO.Path.Combine(Path, "attempts");

    /// <summary>Per block: batch script, stdout/stderr of the block's workers.</summary>
    public string BlocksPath => System.IO.Path.Combine(Path, "blocks");

    public static UepDirectory For(string uepId, string home) =>
        new(System.IO.Path.Combine(home, ".mep", "endpoints", uepId));
}
