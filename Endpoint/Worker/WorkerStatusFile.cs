using Mep.Protocol;

namespace Mep.Endpoint.Worker;

/// <summary>Writes a worker's <see cref="WorkerStatus"/> to <c>{run directory}/workers/{worker id}.json</c>, atomically.</summary>
internal sealed class WorkerStatusFile
{
    public WorkerStatusFile(string workersDirectory, string workerId)
    {
        Directory.CreateDirectory(workersDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Path = System.IO.Path.Combine(workersDirectory, workerId + ".json");
    }

    public string Path { get; }

    /// <summary>False (logged) when it could not be written: a full disk must not stop the tasks.</summary>
    public bool TryWrite(WorkerStatus status)
    {
        try
        {
            AtomicFile.Write(Path, ProtocolJson.SerializeToUtf8(status, EndpointJson.Files.WorkerStatus));
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warn($"cannot write status file {Path}: {e.Message}");
            return false;
        }
    }

    public static WorkerStatus Read(string path) => ProtocolJson.Deserialize(File.ReadAllBytes(path), EndpointJson.Files.WorkerStatus);
}

/// <summary>
/// Whether the UEP still lives, from its liveness file: gone when the file's modification time has not changed for
/// the timeout as measured by our own clock. Comparing the time stamp with our clock instead would break on a compute
/// node whose clock differs from the file server's.
/// </summary>
internal sealed class ManagerLiveness(string path, TimeSpan timeout)
{
    private DateTime _seen = File.GetLastWriteTimeUtc(path);
    private long _changedAt = System.Diagnostics.Stopwatch.GetTimestamp();

    public TimeSpan Timeout => timeout;

    public bool IsGone()
    {
        // A missing file reads as 1601-01-01: no change, so a worker started without one waits the timeout.
        var now = File.GetLastWriteTimeUtc(path);
        if (now != _seen)
        {
            _seen = now;
            _changedAt = System.Diagnostics.Stopwatch.GetTimestamp();
            return false;
        }

        return System.Diagnostics.Stopwatch.GetElapsedTime(_changedAt) > timeout;
    }
}
