using System.Globalization;

namespace Mep.Launcher.Cgroups;

/// <summary>
/// The pre-exec step's part (still root): moves the step itself into the UEP's cgroups, so that the UEP and everything
/// it starts are inside from its first instruction. A path is trusted only if it is exactly
/// <c>MOUNT/PARENT/uep-ID</c> for a cgroup hierarchy this process sees mounted, the launcher's parent and this UEP's id,
/// a directory owned by root; and the move is checked in /proc/self/cgroup.
/// </summary>
internal static class CgroupJoin
{
    public static void Join(IReadOnlyList<string> paths, string? parent, string? uepId)
    {
        if (paths.Count == 0)
        {
            return;
        }

        if (parent is null || !CgroupOptions.IsValidParent(parent))
        {
            throw new FormatException("--cgroup needs a valid --cgroup-parent");
        }

        if (!RequestValidator.IsCanonicalUuid(uepId))
        {
            throw new FormatException("--cgroup needs MEP_UEP_ID in the UEP's environment");
        }

        var mounts = CgroupMounts.Read();
        var pid = System.Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        foreach (var path in paths)
        {
            var mount = mounts.FirstOrDefault(m => path == Path.Combine(m.MountPoint, parent, CgroupManager.Prefix + uepId))
                ?? throw new IOException($"cgroup {path} is not {parent}/{CgroupManager.Prefix}{uepId} in a mounted cgroup hierarchy");
            if (Native.Stat(path, followLinks: false) is not { IsDirectory: true, Uid: 0 })
            {
                throw new IOException($"cgroup {path} is not a directory owned by root");
            }

            try
            {
                using var procs = new FileStream(Path.Combine(path, "cgroup.procs"), FileMode.Open, FileAccess.Write);
                procs.Write(System.Text.Encoding.ASCII.GetBytes(pid));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new IOException($"cannot join cgroup {path}: {ChildSupervisor.OneLine(e.Message)}", e);
            }

            var expected = Path.Combine(mount.Root, parent, CgroupManager.Prefix + uepId);
            if (!InCgroup(mount, expected))
            {
                throw new IOException($"not in cgroup {path} after joining it (/proc/self/cgroup)");
            }
        }
    }

    // "0::/mep/uep-…" for v2; "4:memory:/mep/uep-…" for a v1 hierarchy carrying the mount's controllers.
    private static bool InCgroup(CgroupMount mount, string expected) =>
        File.ReadLines("/proc/self/cgroup").Select(line => line.Split(':', 3)).Any(f => f.Length == 3 && f[2] == expected
            && (mount.IsV2 ? f[0] == "0" && f[1].Length == 0 : f[1].Split(',').Any(mount.Controllers.Contains)));
}
