using System.Globalization;

namespace Mep.Endpoint;

/// <summary>
/// One line per event on stderr: the launcher keeps the tail of it and the silo shows it as a failure reason,
/// so the last line before a non-zero exit must name the cause. Never pass secrets (passwords, documents) here.
/// The UEP also copies its lines to its own log file under the user's home (<see cref="CopyTo"/>), which only the user
/// can read and which outlives the process.
/// </summary>
internal static class Log
{
    /// <summary>A log file larger than this when the UEP starts is moved aside to <c>.1</c> (one old generation kept).</summary>
    public const long RotateAtBytes = 16 * 1024 * 1024;

    private static readonly Lock Gate = new();
    private static StreamWriter? _file;

    public static void Info(string message) => Write("INFO ", message);

    public static void Warn(string message) => Write("WARN ", message);

    public static void Error(string message) => Write("ERROR", message);

    /// <summary>From now on, also appends every line to <paramref name="path"/> (created 0600).</summary>
    public static void CopyTo(string path)
    {
        var info = new FileInfo(path);
        if (info.Exists && info.Length > RotateAtBytes)
        {
            File.Move(path, path + ".1", overwrite: true);
        }

        var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Append,
            Access = FileAccess.Write,
            Share = FileShare.Read,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        lock (Gate)
        {
            _file?.Dispose();
            _file = new StreamWriter(stream) { AutoFlush = true };
        }
    }

    private static void Write(string level, string message)
    {
        var line = string.Create(CultureInfo.InvariantCulture, $"{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} {level} {message}");
        lock (Gate)
        {
            Console.Error.WriteLine(line);
            try
            {
                _file?.WriteLine(line);
            }
            catch (IOException)
            {
                // A full or vanished home directory must not stop the UEP: stderr still has the line.
                _file = null;
            }
        }
    }
}
