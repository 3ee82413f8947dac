using System.Runtime.InteropServices;

namespace Mep.Identity;

/// <summary>A local account as the node's user database (getpwnam) has it.</summary>
public sealed record LocalAccount(string Name, uint Uid, uint Gid, string Home)
{
    /// <summary>The GECOS field (usually the full name), empty when unset.</summary>
    public string Gecos { get; init; } = "";

    public string Shell { get; init; } = "";
}

/// <summary>
/// Resolves a mapped username on this node. Mapping is text; this is where it meets the real accounts: a name the
/// node does not know, root, and the service's own account are refused (the launcher checks again, with its own
/// limits on uids).
/// </summary>
public static partial class LocalAccounts
{
    /// <summary>The account, or null if the node has no such user.</summary>
    public static unsafe LocalAccount? Find(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('\0'))
        {
            return null;
        }
        var size = 4096;
        while (true)
        {
            var buffer = new byte[size];
            Passwd pwd;
            Passwd* result;
            int error;
            fixed (byte* b = buffer)
            {
                error = GetPwNamR(name, &pwd, b, (nuint)size, &result);
                if (error == 0)
                {
                    return result is null
                        ? null
                        : new LocalAccount(Marshal.PtrToStringUTF8(pwd.Name) ?? name, pwd.Uid, pwd.Gid, Marshal.PtrToStringUTF8(pwd.Dir) ?? "")
                        {
                            Gecos = Marshal.PtrToStringUTF8(pwd.Gecos) ?? "",
                            Shell = Marshal.PtrToStringUTF8(pwd.Shell) ?? "",
                        };
                }
            }
            const int ERANGE = 34;
            if (error != ERANGE || size >= 1 << 20)
            {
                throw new InvalidOperationException($"getpwnam_r({name}) failed: errno {error}");
            }
            size *= 4;
        }
    }

    /// <summary>The account a mapped username stands for, or the reason it cannot be used.</summary>
    public static (LocalAccount? Account, string? Refusal) Resolve(string username, string serviceAccount)
    {
        var account = Find(username);
        if (account is null)
        {
            return (null, $"local account '{username}' does not exist on this node");
        }
        if (account.Uid == 0)
        {
            return (null, $"local account '{username}' is root");
        }
        if (account.Name == serviceAccount)
        {
            return (null, $"local account '{username}' is the service's own account");
        }
        return (account, null);
    }

    /// <summary>
    /// The names of the groups the account belongs to (its primary group first, as getgrouplist gives them); a group
    /// id the group database does not name is given as its number.
    /// </summary>
    public static unsafe IReadOnlyList<string> GroupNames(LocalAccount account)
    {
        var count = 64;
        uint[] gids;
        while (true)
        {
            gids = new uint[count];
            var n = count;
            int found;
            fixed (uint* g = gids)
            {
                found = GetGroupList(account.Name, account.Gid, g, &n);
            }

            if (found >= 0)
            {
                count = n;
                break;
            }

            // Too small: n now holds the number needed (glibc); grow at least fourfold otherwise.
            if (count >= 1 << 16)
            {
                throw new InvalidOperationException($"getgrouplist({account.Name}) reports more than {count} groups");
            }

            count = Math.Max(n, count * 4);
        }

        return gids.Take(count).Distinct().Select(GroupName).ToList();
    }

    private static unsafe string GroupName(uint gid)
    {
        var size = 4096;
        while (true)
        {
            var buffer = new byte[size];
            Group grp;
            Group* result;
            int error;
            fixed (byte* b = buffer)
            {
                error = GetGrGidR(gid, &grp, b, (nuint)size, &result);
                if (error == 0)
                {
                    return result is null ? gid.ToString(System.Globalization.CultureInfo.InvariantCulture) : Marshal.PtrToStringUTF8(grp.Name) ?? "";
                }
            }

            const int ERANGE = 34;
            if (error != ERANGE || size >= 1 << 24)
            {
                throw new InvalidOperationException($"getgrgid_r({gid}) failed: errno {error}");
            }

            size *= 4;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Group
    {
        public nint Name;
        public nint Password;
        public uint Gid;
        public nint Members;
    }

    [LibraryImport("libc", EntryPoint = "getgrouplist", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int GetGroupList(string user, uint group, uint* groups, int* ngroups);

    [LibraryImport("libc", EntryPoint = "getgrgid_r")]
    private static unsafe partial int GetGrGidR(uint gid, Group* grp, byte* buf, nuint buflen, Group** result);

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

    [LibraryImport("libc", EntryPoint = "getpwnam_r", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int GetPwNamR(string name, Passwd* pwd, byte* buf, nuint buflen, Passwd** result);
}
