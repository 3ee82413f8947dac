using System.Globalization;

namespace Mep.Tests.Launcher;

/// <summary>What the kernel says about a running process, from /proc/&lt;pid&gt;.</summary>
internal static class ProcFiles
{
    /// <summary>The value of one line of /proc/&lt;pid&gt;/status ("Uid", "NoNewPrivs", ...), split into words.</summary>
    public static string[] Status(int pid, string field)
    {
        var line = File.ReadLines($"/proc/{pid}/status").Single(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return line[(field.Length + 1)..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>The names of the process's environment variables, sorted.</summary>
    public static List<string> EnvironmentNames(int pid) =>
        [.. File.ReadAllText($"/proc/{pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Select(entry => entry[..entry.IndexOf('=', StringComparison.Ordinal)]).Order(StringComparer.Ordinal)];

    /// <summary>The open descriptors of the process, sorted.</summary>
    public static List<int> Descriptors(int pid) =>
        [.. Directory.GetFiles($"/proc/{pid}/fd").Select(f => int.Parse(Path.GetFileName(f), CultureInfo.InvariantCulture)).Order()];

    /// <summary>The process's name (what it exec'd last), or null once it is gone.</summary>
    public static string? Command(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return null;
        }
    }

    /// <summary>True while the process exists and is not a zombie waiting for its parent.</summary>
    public static bool IsRunning(int pid)
    {
        try
        {
            return Stat(pid, 3) != "Z";
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return false;
        }
    }

    /// <summary>Field <paramref name="number"/> (1-based, as in proc(5)) of /proc/&lt;pid&gt;/stat.</summary>
    public static string Stat(int pid, int number)
    {
        // The name (field 2) is in parentheses and may hold spaces: count from the last ')'.
        var text = File.ReadAllText($"/proc/{pid}/stat");
        var rest = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        return rest[number - 3];
    }

    /// <summary>Polls until <paramref name="pid"/> runs <paramref name="command"/> (the UEP program replaced the pre-exec step).</summary>
    public static Task WaitForCommandAsync(int pid, string command, CancellationToken cancellationToken) =>
        Mep.Tests.Infrastructure.Poll.TryUntilAsync(() => Command(pid) == command, Timeout.InfiniteTimeSpan, cancellationToken);
}
