using System.Diagnostics;

namespace Mep.Tests.Endpoint;

/// <summary>Polling helpers for tests that watch real processes.</summary>
internal static class ProcessProbe
{
    /// <summary>True once the pid is gone or a zombie (a container's init may never reap it).</summary>
    public static bool IsDead(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // Field 3, after the parenthesised command name (which may itself contain spaces or parentheses).
            var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state is "Z" or "X";
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return true;
        }
    }

    public static Task<bool> WaitUntilAsync(Func<bool> condition, TimeSpan timeout) =>
        Mep.Tests.Infrastructure.Poll.TryUntilAsync(condition, timeout);
}
