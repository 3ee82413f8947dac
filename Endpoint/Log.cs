using System.Globalization;

namespace Mep.Endpoint;

/// <summary>
/// One line per event on stderr: the launcher keeps the tail of it and the silo shows it as a failure reason,
/// so the last line before a non-zero exit must name the cause. Never pass secrets (passwords, documents) here.
/// </summary>
internal static class Log
{
    private static readonly Lock Gate = new();

    public static void Info(string message) => Write("INFO ", message);

    public static void Warn(string message) => Write("WARN ", message);

    public static void Error(string message) => Write("ERROR", message);

    private static void Write(string level, string message)
    {
        var line = string.Create(CultureInfo.InvariantCulture, $"{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} {level} {message}");
        lock (Gate)
        {
            Console.Error.WriteLine(line);
        }
    }
}
