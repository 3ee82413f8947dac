using System.Runtime.InteropServices;

namespace Mep.Endpoint;

/// <summary>The few libc calls .NET does not expose.</summary>
internal static partial class Native
{
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;

    [LibraryImport("libc", EntryPoint = "getuid")]
    public static partial uint GetUid();

    /// <summary>kill(2); a negative pid signals the whole process group.</summary>
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "dup2", SetLastError = true)]
    private static partial int Dup2(int oldFd, int newFd);

    /// <summary>
    /// Points fd 0 at /dev/null once the start document is read, so task processes (which inherit stdin)
    /// can neither read the launcher's pipe nor wait on a terminal.
    /// </summary>
    public static void RedirectStdinToDevNull()
    {
        using var devNull = File.OpenHandle("/dev/null", FileMode.Open, FileAccess.Read);
        if (Dup2((int)devNull.DangerousGetHandle(), 0) < 0)
        {
            throw new IOException($"dup2(/dev/null, 0) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }
}
