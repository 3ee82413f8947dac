using System.Runtime.InteropServices;

namespace Mep.Bench.Site;

internal static partial class Native
{
    private const int SigTerm = 15;
    private const int SigKill = 9;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);

    /// <summary>SIGTERM: the silo and launcher shut down cleanly on it (Process.Kill would only SIGKILL).</summary>
    public static void Terminate(int pid) => _ = kill(pid, SigTerm);

    public static void KillNow(int pid) => _ = kill(pid, SigKill);
}
