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

    /// <summary>The UEP's own log (0600): what it also writes to stderr, kept across its restarts.</summary>
    public string LogPath => System.IO.Path.Combine(Path, "endpoint.log");

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

    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>
    /// Creates the directory tree (0700 each) and clears what an earlier process of this UEP left that would mislead
    /// this one (worker status files). Attempt counts are kept: a task that killed workers of the earlier process still counts them.
    /// </summary>
    public void Prepare()
    {
        foreach (var dir in new[] { System.IO.Path.GetDirectoryName(System.IO.Path.GetDirectoryName(Path)!)!, System.IO.Path.GetDirectoryName(Path)!, Path, WorkersPath, AttemptsPath, BlocksPath })
        {
            var info = Directory.CreateDirectory(dir, Private);
            // An existing directory keeps its mode: make sure ours are private (a shared home may have a loose umask).
            if ((info.UnixFileMode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute)) != 0)
            {
                File.SetUnixFileMode(dir, Private);
            }
        }

        foreach (var stale in Directory.EnumerateFiles(WorkersPath))
        {
            File.Delete(stale);
        }
    }

    /// <summary>Tells the workers the UEP is alive (they exit when this file goes stale).</summary>
    public void TouchAlive()
    {
        if (!File.Exists(ManagerAlivePath))
        {
            Worker.AtomicFile.Write(ManagerAlivePath, System.Text.Encoding.ASCII.GetBytes($"{Environment.ProcessId}\n"));
        }
        else
        {
            File.SetLastWriteTimeUtc(ManagerAlivePath, DateTime.UtcNow);
        }
    }
}
