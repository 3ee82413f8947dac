using System.Runtime.InteropServices;

namespace Mep.Launcher;

/// <summary>The few libc calls .NET has no public API for. Linux only (glibc or musl, 32 or 64 bit).</summary>
internal static unsafe partial class Native
{
    public const int SigKill = 9;
    public const int SigTerm = 15;
    private const int Erange = 34;
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxBasicStats = 0x7ff;

    [StructLayout(LayoutKind.Sequential)]
    private struct Passwd
    {
        public nint Name;
        public nint Password;
        public uint Uid;
        public uint Gid;
        public nint Gecos;
        public nint Dir;
        public nint Shell;
    }

    // struct spwd: name, password, then seven longs and an unsigned long (long is pointer-sized on Linux).
    [StructLayout(LayoutKind.Sequential)]
    private struct Spwd
    {
        public nint Name;
        public nint Password;
        public nint LastChange;
        public nint Min;
        public nint Max;
        public nint Warn;
        public nint Inactive;
        public nint Expire;
        public nuint Flag;
    }

    [LibraryImport("libc", EntryPoint = "getspnam_r", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int GetSpNamR(string name, Spwd* spwd, byte* buf, nuint buflen, Spwd** result);

    [LibraryImport("libc", EntryPoint = "getpwnam_r", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int GetPwNamR(string name, Passwd* pwd, byte* buf, nuint buflen, Passwd** result);

    [LibraryImport("libc", EntryPoint = "getpwuid_r")]
    private static partial int GetPwUidR(uint uid, Passwd* pwd, byte* buf, nuint buflen, Passwd** result);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEuid();

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int LChown(string path, uint owner, uint group);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    public static UnixUser? GetUserByName(string name) =>
        LookupUser((pwd, buf, len, result) => GetPwNamR(name, pwd, buf, len, result));

    public static UnixUser? GetUserById(uint uid) =>
        LookupUser((pwd, buf, len, result) => GetPwUidR(uid, pwd, buf, len, result));

    private delegate int PwLookup(Passwd* pwd, byte* buf, nuint buflen, Passwd** result);

    // The *_r variants are thread safe; grow the string buffer while libc says ERANGE.
    private static UnixUser? LookupUser(PwLookup lookup)
    {
        for (var size = 1024; size <= 1024 * 1024; size *= 4)
        {
            var buffer = new byte[size];
            fixed (byte* buf = buffer)
            {
                Passwd pwd;
                Passwd* result = null;
                var error = lookup(&pwd, buf, (nuint)size, &result);
                if (error == Erange)
                {
                    continue;
                }

                if (error != 0)
                {
                    throw new IOException($"user database lookup failed (errno {error})");
                }

                if (result == null)
                {
                    return null;
                }

                return new UnixUser(
                    Marshal.PtrToStringUTF8(pwd.Name) ?? "",
                    pwd.Uid,
                    pwd.Gid,
                    Marshal.PtrToStringUTF8(pwd.Dir) ?? "",
                    Marshal.PtrToStringUTF8(pwd.Shell) ?? "");
            }
        }

        throw new IOException("user database entry too large");
    }

    /// <summary>
    /// The account's shadow entry, or null when there is none or it cannot be read (not root; a directory service
    /// without a shadow map). The password hash itself never leaves libc's buffer: only whether it starts with '!'.
    /// </summary>
    public static ShadowEntry? GetShadowEntry(string name)
    {
        for (var size = 1024; size <= 1024 * 1024; size *= 4)
        {
            var buffer = new byte[size];
            fixed (byte* buf = buffer)
            {
                try
                {
                    Spwd entry;
                    Spwd* result = null;
                    var error = GetSpNamR(name, &entry, buf, (nuint)size, &result);
                    if (error == Erange)
                    {
                        continue;
                    }

                    if (error != 0 || result == null)
                    {
                        return null; // ENOENT, EACCES
                    }

                    var locked = entry.Password != 0 && *(byte*)entry.Password == (byte)'!';
                    return new ShadowEntry(locked, entry.Expire >= 0 ? entry.Expire : null);
                }
                finally
                {
                    new Span<byte>(buf, size).Clear(); // the hash was in there
                }
            }
        }

        throw new IOException("shadow entry too large");
    }

    /// <summary>Type, permission bits and owner of a path (lstat semantics when <paramref name="followLinks"/> is false).</summary>
    /// <returns>null when the path does not exist.</returns>
    public static FileStatus? Stat(string path, bool followLinks)
    {
        // struct statx has the same layout on every architecture: uid at 20, gid at 24, mode at 28.
        var buffer = stackalloc byte[256];
        if (Statx(AtFdCwd, path, followLinks ? 0 : AtSymlinkNoFollow, StatxBasicStats, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is 2 or 20)
            {
                return null; // ENOENT, ENOTDIR
            }

            throw new IOException($"cannot stat {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }

        // Native byte order, as the kernel wrote it.
        var span = new ReadOnlySpan<byte>(buffer, 256);
        return new FileStatus(
            MemoryMarshal.Read<uint>(span[20..]),
            MemoryMarshal.Read<uint>(span[24..]),
            MemoryMarshal.Read<ushort>(span[28..]));
    }
}

/// <summary>An entry of the user database.</summary>
public sealed record UnixUser(string Name, uint Uid, uint Gid, string Home, string Shell);

/// <summary>What the launcher needs of a shadow entry.</summary>
/// <param name="PasswordLocked">The password field starts with '!' (passwd -l, usermod -L, or never set on Debian/RHEL).</param>
/// <param name="ExpireDay">The account's expiry as days since 1970-01-01 (shadow field 8), or null for none.</param>
public sealed record ShadowEntry(bool PasswordLocked, long? ExpireDay);

/// <summary>What <see cref="Native.Stat"/> tells about a path.</summary>
internal readonly record struct FileStatus(uint Uid, uint Gid, ushort Mode)
{
    private const int TypeMask = 0xF000;

    public bool IsSocket => (Mode & TypeMask) == 0xC000;

    public bool IsRegularFile => (Mode & TypeMask) == 0x8000;

    public bool IsDirectory => (Mode & TypeMask) == 0x4000;

    public bool WritableByGroupOrOthers => (Mode & 0x12) != 0; // S_IWGRP | S_IWOTH

    public bool Executable => (Mode & 0x49) != 0; // any x bit
}
