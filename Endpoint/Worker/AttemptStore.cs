using System.Globalization;
using System.Text;

namespace Mep.Endpoint.Worker;

/// <summary>
/// How many times a worker died running a task, so that a task that keeps killing its workers fails instead of looping.
/// <para>
/// Each worker keeps one file in <c>{run directory}/attempts</c>, <c>running.{worker}.{host}.{pid}</c>, with one
/// fixed-size record per task slot: the task the slot runs and which run of it this is. A slot writes its record in
/// place when a run begins and blanks it when the run ends (a result, a hand-back, anything but the worker's death).
/// A record left naming a task is a run its worker did not live to end. The directory is on the shared home, so a
/// record outlives its worker and is seen by the UEP's other workers, on any node.
/// </para>
/// <para>
/// Why records and not a file per task (as before): a task's create, write and unlink, and ext4 writing the file out
/// at its close, were a fifth of a worker's CPU in a throughput run. A record is one <c>pwrite</c> into a page that
/// stays cached. Only a redelivered task can have died with a worker before (the broker marks every delivery after
/// the first), so only a redelivery reads the records: the usual first delivery reads nothing.
/// </para>
/// A file per task, <c>attempts/{task id}</c> holding a count, as workers before this one wrote it, is still read.
/// </summary>
internal sealed class AttemptStore : IDisposable
{
    /// <summary>36 characters of task id, a space, 10 digits of run number, a newline.</summary>
    internal const int RecordSize = 48;
    internal const string RunningPrefix = "running.";

    private static readonly byte[] Blank = Encoding.ASCII.GetBytes(new string(' ', RecordSize - 1) + "\n");

    private readonly string _directory;
    private readonly string _path;
    private readonly FileStream? _file;

    public AttemptStore(string directory, string workerId, string hostname, int slots)
    {
        _directory = directory;
        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        _path = Path.Combine(directory, $"{RunningPrefix}{workerId}.{hostname}.{Environment.ProcessId}");
        try
        {
            // Shared, not exclusive: .NET takes an advisory lock per open, and other workers read this file.
            _file = new FileStream(_path, new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.ReadWrite,
                Share = FileShare.ReadWrite | FileShare.Delete,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                BufferSize = 0,
            });
            for (var slot = 0; slot < slots; slot++)
            {
                RandomAccess.Write(_file.SafeFileHandle, Blank, (long)slot * RecordSize);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Tasks still run, uncounted: failing every task for want of a count would be worse.
            Log.Warn($"cannot open attempts file {_path}: {e.Message}; worker deaths will not be counted");
            _file?.Dispose();
            _file = null;
        }
    }

    /// <summary>
    /// How many runs of the task began and never ended, that is, how many times a worker died running it. 0 for a first
    /// delivery without reading anything; a redelivery reads every worker's records.
    /// </summary>
    public int PriorDeaths(Guid taskId, bool redelivered) => redelivered ? Count(_directory, taskId, _path) : 0;

    /// <summary>Records that <paramref name="slot"/> begins run number <paramref name="run"/> of the task.</summary>
    public void Begin(int slot, Guid taskId, int run) => Put(slot, Encoding.ASCII.GetBytes(Record(taskId, run)));

    /// <summary>A record as a slot writes it (<see cref="RecordSize"/> bytes).</summary>
    internal static string Record(Guid taskId, int run) => string.Create(CultureInfo.InvariantCulture, $"{taskId:D} {run,10}\n");

    /// <summary>The slot's run ended without the worker dying: it no longer counts.</summary>
    public void End(int slot) => Put(slot, Blank);

    /// <summary>After a task that ran here ended: a per-task count file of an older worker is not needed any more.</summary>
    public void Forget(Guid taskId)
    {
        try
        {
            File.Delete(Path.Combine(_directory, taskId.ToString("D")));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warn($"cannot remove attempts file for {taskId}: {e.Message}");
        }
    }

    private void Put(int slot, byte[] record)
    {
        if (_file is null)
        {
            return;
        }

        try
        {
            RandomAccess.Write(_file.SafeFileHandle, record, (long)slot * RecordSize);
        }
        catch (IOException e)
        {
            Log.Warn($"cannot write attempts file {_path}: {e.Message}");
        }
    }

    /// <summary>The largest run number any record (other than in <paramref name="exceptPath"/>) or count file holds for the task.</summary>
    internal static int Count(string directory, Guid taskId, string? exceptPath = null)
    {
        var count = 0;
        IEnumerable<string> files;
        try
        {
            files = Directory.EnumerateFiles(directory).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warn($"cannot list attempts directory {directory}: {e.Message}; taken as 0");
            return 0;
        }

        var id = taskId.ToString("D");
        foreach (var file in files)
        {
            var name = Path.GetFileName(file);
            if (name == id)
            {
                count = Math.Max(count, ReadCountFile(file));
            }
            else if (name.StartsWith(RunningPrefix, StringComparison.Ordinal) && file != exceptPath)
            {
                foreach (var (task, run) in ReadRecords(file))
                {
                    if (task == taskId)
                    {
                        count = Math.Max(count, run);
                    }
                }
            }
        }

        return count;
    }

    /// <summary>The runs a worker's file records as under way (blank and unreadable records are skipped).</summary>
    internal static List<(Guid TaskId, int Run)> ReadRecords(string path)
    {
        var found = new List<(Guid, int)>();
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return found; // gone meanwhile (its worker ended cleanly), or not ours to read
        }

        for (var offset = 0; offset + RecordSize <= bytes.Length; offset += RecordSize)
        {
            var record = Encoding.ASCII.GetString(bytes, offset, RecordSize - 1);
            if (record.Length > 37 && Guid.TryParseExact(record.AsSpan(0, 36), "D", out var task)
                && int.TryParse(record.AsSpan(37), NumberStyles.AllowLeadingWhite, CultureInfo.InvariantCulture, out var run) && run > 0)
            {
                found.Add((task, run));
            }
        }

        return found;
    }

    private static int ReadCountFile(string path)
    {
        try
        {
            var text = File.ReadAllText(path).Trim();
            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var count))
            {
                return count;
            }

            Log.Warn($"attempts file {path} does not hold a count; taken as 0");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warn($"cannot read attempts file {path}: {e.Message}; taken as 0");
        }

        return 0;
    }

    /// <summary>
    /// Removes every worker's records and count file: for a UEP stopping because nothing ran or waited for its idle
    /// timeout, when no task left can have died with a worker. Killed workers' files would otherwise stay.
    /// </summary>
    public static void RemoveAll(string directory)
    {
        try
        {
            foreach (var file in Directory.EnumerateFiles(directory).ToList())
            {
                var name = Path.GetFileName(file);
                if (name.StartsWith(RunningPrefix, StringComparison.Ordinal) || Guid.TryParseExact(name, "D", out _))
                {
                    File.Delete(file);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warn($"cannot clear attempts directory {directory}: {e.Message}");
        }
    }

    /// <summary>A worker that ends cleanly has no run under way: its file goes with it.</summary>
    public void Dispose()
    {
        if (_file is null)
        {
            return;
        }

        _file.Dispose();
        if (ReadRecords(_path).Count > 0)
        {
            return; // a run that did not end (a handler past the shutdown's wait) still counts
        }

        try
        {
            File.Delete(_path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warn($"cannot remove attempts file {_path}: {e.Message}");
        }
    }
}
