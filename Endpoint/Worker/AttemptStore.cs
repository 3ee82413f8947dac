using System.Globalization;

namespace Mep.Endpoint.Worker;

/// <summary>
/// <c>{run directory}/attempts/{task id}</c>: how many runs of a task began and ended neither in a result nor in a
/// hand-back, that is, how many times a worker died running it. Shared by all the UEP's workers (the directory is on
/// the shared home), so the count follows the task from one worker to the next.
/// </summary>
internal sealed class AttemptStore
{
    private readonly string _directory;

    public AttemptStore(string directory)
    {
        _directory = directory;
        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>0 when there is no file; an unreadable count is also 0 (logged), rather than failing the task.</summary>
    public int Read(Guid taskId)
    {
        var path = PathOf(taskId);
        if (!File.Exists(path))
        {
            // The usual case (every first run): checked first because a thrown FileNotFoundException costs a stack
            // unwind, which showed in the worker's profile on every task. A file appearing or going between the two
            // calls is read, or caught below, as before.
            return 0;
        }

        try
        {
            var text = File.ReadAllText(path).Trim();
            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var count))
            {
                return count;
            }

            Log.Warn($"attempts file {path} does not hold a count; taken as 0");
            return 0;
        }
        catch (FileNotFoundException)
        {
            return 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warn($"cannot read attempts file {path}: {e.Message}; taken as 0");
            return 0;
        }
    }

    /// <summary>Sets the count; 0 removes the file. A failure is logged, not thrown: the task still runs, uncounted.</summary>
    public void Write(Guid taskId, int count)
    {
        if (count <= 0)
        {
            Remove(taskId);
            return;
        }

        try
        {
            // One small write into the file itself, not a temporary file renamed over it: a count is a few bytes that
            // one write(2) puts in place, and file creates, renames and unlinks were about a quarter of a
            // worker's profile in a throughput run. A worker dying between the open and the write leaves an empty file,
            // read as 0: the count is lost only if it dies in those microseconds, before the task has started.
            using var file = new FileStream(PathOf(taskId), new FileStreamOptions
            {
                Mode = FileMode.Create,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                BufferSize = 0,
            });
            file.Write(System.Text.Encoding.ASCII.GetBytes(count.ToString(CultureInfo.InvariantCulture) + "\n"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warn($"cannot write attempts file {PathOf(taskId)}: {e.Message}");
        }
    }

    public void Remove(Guid taskId)
    {
        try
        {
            File.Delete(PathOf(taskId));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warn($"cannot remove attempts file {PathOf(taskId)}: {e.Message}");
        }
    }

    private string PathOf(Guid taskId) => Path.Combine(_directory, taskId.ToString("D"));
}
