using System.Text;

namespace Mep.Launcher.Cgroups;

/// <summary>A mounted cgroup hierarchy: v2 (<see cref="Controllers"/> empty: read them from cgroup.controllers) or v1
/// with the controllers its super options name.</summary>
/// <param name="Root">The cgroup the mount shows as its top (field 4 of mountinfo): "/" unless in a cgroup namespace or
/// a bind mount of a sub-tree.</param>
public sealed record CgroupMount(string MountPoint, string Root, bool IsV2, IReadOnlySet<string> Controllers);

/// <summary>The cgroup file systems this process sees, from /proc/self/mountinfo: never assumed paths.</summary>
public static class CgroupMounts
{
    public static List<CgroupMount> Read(string mountinfo = "/proc/self/mountinfo") => Parse(File.ReadAllLines(mountinfo));

    public static List<CgroupMount> Parse(IEnumerable<string> lines)
    {
        var mounts = new List<CgroupMount>();
        foreach (var line in lines)
        {
            // id parent major:minor root mount-point options [optional fields...] - fstype source super-options
            var fields = line.Split(' ');
            var separator = Array.IndexOf(fields, "-", 6);
            if (fields.Length < 10 || separator < 0 || separator + 1 >= fields.Length)
            {
                continue;
            }

            var type = fields[separator + 1];
            if (type is not ("cgroup" or "cgroup2"))
            {
                continue;
            }

            var superOptions = separator + 3 < fields.Length ? fields[separator + 3].Split(',') : [];
            var controllers = type == "cgroup2"
                ? new HashSet<string>(StringComparer.Ordinal)
                : superOptions.Where(o => o is not ("rw" or "ro") && !o.Contains('=')).ToHashSet(StringComparer.Ordinal);
            mounts.Add(new CgroupMount(Unescape(fields[4]), Unescape(fields[3]), type == "cgroup2", controllers));
        }

        return mounts;
    }

    /// <summary>The first v2 hierarchy, and the first v1 hierarchy carrying each of memory and pids.</summary>
    public static (CgroupMount? V2, CgroupMount? V1Memory, CgroupMount? V1Pids) Find(IEnumerable<CgroupMount> mounts)
    {
        var list = mounts.ToList();
        return (list.FirstOrDefault(m => m.IsV2),
            list.FirstOrDefault(m => !m.IsV2 && m.Controllers.Contains("memory")),
            list.FirstOrDefault(m => !m.IsV2 && m.Controllers.Contains("pids")));
    }

    // The kernel writes space, tab, newline and backslash in paths as \ooo.
    private static string Unescape(string field)
    {
        if (!field.Contains('\\'))
        {
            return field;
        }

        var bytes = new List<byte>();
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && field[(i + 1)..(i + 4)].All(c => c is >= '0' and <= '7'))
            {
                bytes.Add(Convert.ToByte(field[(i + 1)..(i + 4)], 8));
                i += 3;
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(field[i].ToString()));
            }
        }

        return Encoding.UTF8.GetString([.. bytes]);
    }
}
