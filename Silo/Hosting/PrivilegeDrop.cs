using System.Runtime.InteropServices;

namespace Mep.Silo.Hosting;

/// <summary>
/// The silo never needs root: started as root it becomes the service account before it reads anything or opens a
/// port. glibc applies setuid/setgid to every thread of the process, so the runtime's own threads drop too.
/// </summary>
internal static partial class PrivilegeDrop
{
    public static void BecomeServiceAccount(string? account)
    {
        if (geteuid() != 0 || string.IsNullOrWhiteSpace(account))
        {
            return;
        }

        var pw = getpwnam(account);
        if (pw == IntPtr.Zero)
        {
            throw new InvalidOperationException($"Mep:RunAs: service account '{account}' does not exist");
        }

        var entry = Marshal.PtrToStructure<Passwd>(pw);
        if (entry.Uid == 0)
        {
            throw new InvalidOperationException($"Mep:RunAs: '{account}' is root; name an unprivileged account");
        }

        // Groups first, then gid, then uid: once the uid is gone we could no longer change the others.
        Check(initgroups(account, entry.Gid), "initgroups");
        Check(setresgid(entry.Gid, entry.Gid, entry.Gid), "setresgid");
        Check(setresuid(entry.Uid, entry.Uid, entry.Uid), "setresuid");
        if (geteuid() != entry.Uid || setuid(0) == 0)
        {
            throw new InvalidOperationException("privilege drop did not hold");
        }

        Environment.SetEnvironmentVariable("HOME", Marshal.PtrToStringUTF8(entry.Dir));
        Environment.SetEnvironmentVariable("USER", account);
    }

    private static void Check(int rc, string call)
    {
        if (rc != 0)
        {
            throw new InvalidOperationException($"{call} failed while dropping privileges: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Passwd
    {
        public IntPtr Name;
        public IntPtr Passwd_;
        public uint Uid;
        public uint Gid;
        public IntPtr Gecos;
        public IntPtr Dir;
        public IntPtr Shell;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial uint geteuid();

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr getpwnam(string name);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int initgroups(string user, uint group);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setresgid(uint rgid, uint egid, uint sgid);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setresuid(uint ruid, uint euid, uint suid);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setuid(uint uid);
}
