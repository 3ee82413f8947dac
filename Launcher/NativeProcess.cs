using System.Runtime.InteropServices;

namespace Mep.Launcher;

/// <summary>
/// libc and syscalls for dropping privileges and exec-ing the UEP (<see cref="ExecAs"/>), and for watching processes
/// the launcher did not start itself (pidfds). Linux only; the new syscall numbers (424 and up) are the same on every
/// architecture.
/// </summary>
internal static unsafe partial class Native
{
    public const int PrSetNoNewPrivs = 38;
    public const int PrGetNoNewPrivs = 39;
    private const nint SysPidfdSendSignal = 424;
    private const nint SysPidfdOpen = 434;
    private const nint SysCloseRange = 436;
    private const uint CloseRangeCloexec = 1u << 2;
    private const int FdCloexec = 1;
    private const int FSetFd = 2;
    private const short PollIn = 1;

    [LibraryImport("libc", EntryPoint = "getgrouplist", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int GetGroupList(string user, uint group, uint* groups, int* ngroups);

    [LibraryImport("libc", EntryPoint = "setgroups", SetLastError = true)]
    private static partial int SetGroups(nuint size, uint* list);

    [LibraryImport("libc", EntryPoint = "getgroups", SetLastError = true)]
    private static partial int GetGroups(int size, uint* list);

    [LibraryImport("libc", EntryPoint = "setresuid", SetLastError = true)]
    private static partial int SetResUid(uint ruid, uint euid, uint suid);

    [LibraryImport("libc", EntryPoint = "setresgid", SetLastError = true)]
    private static partial int SetResGid(uint rgid, uint egid, uint sgid);

    [LibraryImport("libc", EntryPoint = "getresuid")]
    private static partial int GetResUid(uint* ruid, uint* euid, uint* suid);

    [LibraryImport("libc", EntryPoint = "getresgid")]
    private static partial int GetResGid(uint* rgid, uint* egid, uint* sgid);

    [LibraryImport("libc", EntryPoint = "getuid")]
    public static partial uint GetUid();

    [LibraryImport("libc", EntryPoint = "umask")]
    public static partial uint Umask(uint mask);

    // prctl and syscall are variadic in C; integer arguments are passed alike on the Linux ABIs .NET supports.
    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    public static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial nint Syscall(nint number, nint arg1, nint arg2, nint arg3, nint arg4);

    [LibraryImport("libc", EntryPoint = "setsid", SetLastError = true)]
    public static partial int SetSid();

    [LibraryImport("libc", EntryPoint = "chdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int ChDir(string path);

    [LibraryImport("libc", EntryPoint = "signal")]
    private static partial nint Signal(int signal, nint handler);

    [LibraryImport("libc", EntryPoint = "pthread_sigmask")]
    private static partial int PthreadSigmask(int how, byte* set, byte* oldSet);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "execve", SetLastError = true)]
    private static partial int Execve(byte* path, byte** argv, byte** envp);

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public nuint Current;
        public nuint Maximum;
    }

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int SetRLimit(int resource, RLimit* limit);

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetRLimit(int resource, RLimit* limit);

    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(PollFd* fds, nuint count, int timeout);

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    /// <summary>The user's groups as login would set them: the primary group and every group listing the user.</summary>
    public static uint[] GroupList(string user, uint primaryGroup)
    {
        var count = 64;
        while (true)
        {
            var groups = new uint[count];
            fixed (uint* list = groups)
            {
                var n = count;
                if (GetGroupList(user, primaryGroup, list, &n) >= 0)
                {
                    return groups[..n];
                }

                if (n <= count || n > 65536)
                {
                    throw new IOException($"getgrouplist failed for {user}");
                }

                count = n; // glibc told us how many there are
            }
        }
    }

    public static void SetGroups(uint[] groups)
    {
        fixed (uint* list = groups)
        {
            Check(SetGroups((nuint)groups.Length, list), "setgroups");
        }
    }

    public static uint[] GetGroups()
    {
        var count = GetGroups(0, null);
        var groups = new uint[Math.Max(count, 1)];
        fixed (uint* list = groups)
        {
            count = GetGroups(groups.Length, list);
        }

        return count < 0 ? throw new IOException("getgroups failed") : groups[..count];
    }

    public static void SetResUid(uint uid) => Check(SetResUid(uid, uid, uid), "setresuid");

    public static void SetResGid(uint gid) => Check(SetResGid(gid, gid, gid), "setresgid");

    /// <summary>Tries to get root back; true would mean the drop failed (and leaves the process root).</summary>
    public static bool CanBecomeRoot() => SetResUid(0, 0, 0) == 0;

    public static (uint Real, uint Effective, uint Saved) GetResUid()
    {
        uint r, e, s;
        return GetResUid(&r, &e, &s) == 0 ? (r, e, s) : throw new IOException("getresuid failed");
    }

    public static (uint Real, uint Effective, uint Saved) GetResGid()
    {
        uint r, e, s;
        return GetResGid(&r, &e, &s) == 0 ? (r, e, s) : throw new IOException("getresgid failed");
    }

    /// <summary>Raises the hard limit of <paramref name="resource"/> to at least <paramref name="value"/>, soft limit untouched (needs root).</summary>
    public static void RaiseHardLimit(int resource, ulong value)
    {
        RLimit limit;
        Check(GetRLimit(resource, &limit), "getrlimit");
        if (limit.Maximum < (nuint)value)
        {
            limit.Maximum = (nuint)value;
            Check(SetRLimit(resource, &limit), $"setrlimit({resource}, hard {value})");
        }
    }

    /// <summary>Marks every descriptor above stderr close-on-exec: nothing but stdio reaches the next program.</summary>
    /// <remarks>Close-on-exec rather than close: the runtime's own threads may still use theirs until execve.</remarks>
    public static void CloseOnExecAboveStderr()
    {
        if (Syscall(SysCloseRange, 3, unchecked((nint)uint.MaxValue), (nint)CloseRangeCloexec, 0) == 0)
        {
            return;
        }

        // Kernels before 5.11: mark each open descriptor.
        foreach (var entry in Directory.GetFiles("/proc/self/fd"))
        {
            if (int.TryParse(Path.GetFileName(entry), out var fd) && fd > 2)
            {
                Fcntl(fd, FSetFd, FdCloexec); // EBADF for the directory handle already closed: fine
            }
        }
    }

    /// <summary>Every signal back to its default action and none blocked, as a fresh login has them.</summary>
    /// <remarks>execve keeps ignored signals ignored: the runtime ignores SIGPIPE, which a shell task must not inherit.</remarks>
    public static void ResetSignals()
    {
        for (var signal = 1; signal < 65; signal++)
        {
            Signal(signal, 0); // SIG_DFL; SIGKILL, SIGSTOP and libc's internal ones just fail
        }

        var empty = stackalloc byte[128]; // sigset_t
        new Span<byte>(empty, 128).Clear();
        PthreadSigmask(2, empty, null); // SIG_SETMASK
    }

    /// <summary>
    /// Sets each limit (soft and hard; RLIMIT_NPROC 6, NOFILE 7, AS 9 on x86 and arm) and replaces this process; returns
    /// only on failure, with the call that failed and its errno.
    /// </summary>
    /// <remarks>
    /// The limits come last, with nothing but system calls after them: the runtime itself would fail to map code or
    /// open files under a small RLIMIT_AS or RLIMIT_NOFILE. The execve stub is made ready before, with a call that
    /// can only fail (EFAULT), and so is the setrlimit one (EINVAL).
    /// </remarks>
    public static (string Call, int Errno) Exec(
        string program, IReadOnlyList<string> argv, IReadOnlyList<string> environment, IReadOnlyList<(int Resource, ulong Soft, ulong Hard)> limits)
    {
        var strings = new List<nint>();
        try
        {
            var path = Utf8(program, strings);
            var args = stackalloc byte*[argv.Count + 1];
            for (var i = 0; i < argv.Count; i++)
            {
                args[i] = Utf8(argv[i], strings);
            }

            args[argv.Count] = null;
            var envp = stackalloc byte*[environment.Count + 1];
            for (var i = 0; i < environment.Count; i++)
            {
                envp[i] = Utf8(environment[i], strings);
            }

            envp[environment.Count] = null;
            var values = stackalloc RLimit[limits.Count];
            for (var i = 0; i < limits.Count; i++)
            {
                values[i] = new RLimit { Current = (nuint)limits[i].Soft, Maximum = (nuint)limits[i].Hard };
            }

            var probe = default(RLimit);
            Execve(null, null, null); // EFAULT
            SetRLimit(-1, &probe); // EINVAL
            for (var i = 0; i < limits.Count; i++)
            {
                if (SetRLimit(limits[i].Resource, &values[i]) != 0)
                {
                    return ("setrlimit", Marshal.GetLastPInvokeError());
                }
            }

            Execve(path, args, envp);
            return ("execve", Marshal.GetLastPInvokeError());
        }
        finally
        {
            strings.ForEach(Marshal.FreeCoTaskMem);
        }
    }

    /// <summary>A descriptor that names this very process for as long as it is open, whatever pid reuse happens.</summary>
    /// <returns>-1 when the process no longer exists.</returns>
    public static int PidfdOpen(int pid) => (int)Syscall(SysPidfdOpen, pid, 0, 0, 0);

    /// <summary>Signals the process the pidfd names (never a later process with the same pid).</summary>
    public static int PidfdSendSignal(int pidfd, int signal) => (int)Syscall(SysPidfdSendSignal, pidfd, signal, 0, 0);

    /// <summary>True once the process the pidfd names has exited.</summary>
    public static bool PidfdExited(int pidfd)
    {
        var entry = new PollFd { Fd = pidfd, Events = PollIn };
        return Poll(&entry, 1, 0) > 0 && (entry.Revents & PollIn) != 0;
    }

    private static byte* Utf8(string value, List<nint> owned)
    {
        var handle = Marshal.StringToCoTaskMemUTF8(value);
        owned.Add(handle);
        return (byte*)handle;
    }

    private static void Check(int result, string call)
    {
        if (result != 0)
        {
            throw new IOException($"{call} failed: {Marshal.GetLastPInvokeErrorMessage()}");
        }
    }
}
