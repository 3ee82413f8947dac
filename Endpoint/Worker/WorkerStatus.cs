namespace Mep.Endpoint.Worker;

public enum WorkerPhase
{
    /// <summary>Connected and consuming (or about to).</summary>
    Running,

    /// <summary>Exited on its own or on a signal; the file stays as the worker's last word.</summary>
    Stopped,
}

/// <summary>
/// What a worker tells its UEP, through <c>{run directory}/workers/{worker id}.json</c> (replaced atomically):
/// the UEP scales and decides idleness from these, for local workers and for workers on compute nodes alike.
/// </summary>
/// <param name="Running">Tasks running now.</param>
/// <param name="Completed">Tasks whose results this worker published.</param>
/// <param name="LastTaskAt">When a task last started or ended here; null if none yet.</param>
internal sealed record WorkerStatus(
    string WorkerId,
    string BlockId,
    int Pid,
    string Hostname,
    string? JobId,
    WorkerPhase Phase,
    int Running,
    long Completed,
    int MaxTasks,
    DateTimeOffset? LastTaskAt,
    DateTimeOffset UpdatedAt,
    string? Reason = null);
