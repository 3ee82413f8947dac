using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mep.Launcher.Cgroups;

/// <summary>The cgroup(s) a UEP joins before it runs, and how the start's answer describes them.</summary>
/// <param name="Paths">Directories whose cgroup.procs the pre-exec step writes its pid to; empty when none.</param>
public sealed record CgroupPlacement(IReadOnlyList<string> Paths, string Description);

/// <summary>
/// Gives every UEP a cgroup of its own with its memory and pids limits, where the machine allows: under the cgroup v2
/// root when it offers the memory and pids controllers (enabled along the path in cgroup.subtree_control), else in the
/// v1 memory and pids hierarchies. Hierarchies are found in /proc/self/mountinfo. What is missing is logged once at
/// startup and said in every start's answer; with Launcher:Cgroups:Required a start that cannot be contained is refused.
/// A UEP's cgroups are removed once it has exited and they are empty; empty leftovers are removed at startup.
/// </summary>
public sealed class CgroupManager(IOptions<LauncherOptions> options, LauncherIdentity identity, ILogger<CgroupManager> logger)
{
    public const string Prefix = "uep-";
    private static readonly TimeSpan RetryPeriod = TimeSpan.FromSeconds(1);

    // A cgroup younger than this may be another launcher's start in progress (made, not yet joined): left alone.
    private static readonly TimeSpan SweepMinimumAge = TimeSpan.FromMinutes(1);

    private readonly CgroupOptions settings = options.Value.Cgroups;
    private readonly Lock gate = new();
    private readonly HashSet<string> pendingRemoval = new(StringComparer.Ordinal);
    private List<Hierarchy> hierarchies = [];
    private string unavailable = "not initialised";

    /// <summary>One hierarchy UEP cgroups are made in: <see cref="ParentDirectory"/>/uep-ID.</summary>
    private sealed record Hierarchy(CgroupMount Mount, string ParentDirectory, bool Memory, bool Pids);

    /// <summary>"cgroup v2", "cgroup v1", or null when there are none.</summary>
    public string? Version => hierarchies.Count == 0 ? null : hierarchies[0].Mount.IsV2 ? "cgroup v2" : "cgroup v1";

    public string Parent => settings.Parent;

    /// <summary>Finds the hierarchies, makes the parent cgroups, says once what UEPs will get.</summary>
    public void Initialize()
    {
        var reasons = new List<string>();
        hierarchies = identity.IsRoot ? Detect(reasons) : [];
        if (!identity.IsRoot)
        {
            reasons.Add("the launcher does not run as root");
        }

        unavailable = string.Join("; ", reasons);
        if (hierarchies.Count == 0)
        {
            if (settings.Required)
            {
                logger.LogError("No cgroups for UEPs ({Reason}); Launcher:Cgroups:Required is set, so every start will be refused", unavailable);
            }
            else
            {
                logger.LogWarning("UEPs start without cgroups (no memory or pids limits can be enforced): {Reason}", unavailable);
            }

            return;
        }

        var missing = new[] { ("memory", hierarchies.Any(h => h.Memory)), ("pids", hierarchies.Any(h => h.Pids)) }
            .Where(c => !c.Item2).Select(c => c.Item1).ToList();
        var where = string.Join(", ", hierarchies.Select(h => $"{Controllers(h)} in {h.ParentDirectory}"));
        if (missing.Count > 0)
        {
            logger.LogWarning("UEP cgroups: {Version} {Where}; no {Missing} controller: {Reason}",
                Version, where, string.Join(" or ", missing), unavailable);
        }
        else
        {
            logger.LogInformation("UEP cgroups: {Version} {Where}{Note}", Version, where, reasons.Count > 0 ? $" ({unavailable})" : "");
        }
    }

    /// <summary>Makes the UEP's cgroups with its limits; refuses the start if a write fails or (Required) if it cannot
    /// be contained. Called under the supervisor's lock, before the pre-exec step is spawned.</summary>
    public CgroupPlacement Create(string uepId, ResourceLimits limits)
    {
        var unenforced = new List<string>();
        if (limits.MemoryMaxBytes is not null && !hierarchies.Any(h => h.Memory))
        {
            unenforced.Add("memory_max");
        }

        if (limits.PidsMax is not null && !hierarchies.Any(h => h.Pids))
        {
            unenforced.Add("pids_max");
        }

        if (settings.Required && (hierarchies.Count == 0 || unenforced.Count > 0))
        {
            throw new RequestRefusedException(hierarchies.Count == 0
                ? $"cgroups are required (Launcher:Cgroups:Required) but none can be made: {unavailable}"
                : $"cgroups are required (Launcher:Cgroups:Required) but there is no controller for {string.Join(" and ", unenforced)}");
        }

        var note = unenforced.Count == 0 ? ""
            : hierarchies.Count == 0 ? $"; {string.Join(" and ", unenforced)} not enforced"
            : $"; {string.Join(" and ", unenforced)} not enforced ({unavailable})";
        if (hierarchies.Count == 0)
        {
            return new CgroupPlacement([], $"no cgroup: {unavailable}{note}");
        }

        var made = new List<string>();
        var described = new List<string>();
        try
        {
            foreach (var hierarchy in hierarchies)
            {
                var path = Path.Combine(hierarchy.ParentDirectory, Prefix + uepId);
                EnsureParent(hierarchy);
                lock (gate)
                {
                    pendingRemoval.Remove(path); // a leftover of an earlier run of this UEP is used again
                }

                if (!Directory.Exists(path))
                {
                    Directory.CreateDirectory(path, (UnixFileMode)0b111_101_101);
                    made.Add(path);
                }

                described.Add($"{path} ({string.Join(", ", WriteLimits(hierarchy, path, limits))})");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            foreach (var path in made)
            {
                TryRemove(path);
            }

            throw new RequestRefusedException($"cannot set up the UEP's cgroup: {ChildSupervisor.OneLine(e.Message)}");
        }

        return new CgroupPlacement(
            [.. hierarchies.Select(h => Path.Combine(h.ParentDirectory, Prefix + uepId))],
            $"{Version}: {string.Join(", ", described)}{note}");
    }

    /// <summary>Removes a UEP's cgroups after it exited; one still holding processes is removed once it is empty.</summary>
    public void Release(IEnumerable<string> paths)
    {
        foreach (var path in paths)
        {
            if (!TryRemove(path))
            {
                logger.LogInformation("Cgroup {Cgroup} still has processes; it is removed once they are gone", path);
                lock (gate)
                {
                    pendingRemoval.Add(path);
                }
            }
        }
    }

    /// <summary>Retries the removal of released cgroups until they are empty, while the launcher runs.</summary>
    public async Task RemovePendingAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(RetryPeriod);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                List<string> pending;
                lock (gate)
                {
                    pending = [.. pendingRemoval];
                }

                foreach (var path in pending.Where(TryRemove))
                {
                    lock (gate)
                    {
                        pendingRemoval.Remove(path);
                    }

                    logger.LogInformation("Removed cgroup {Cgroup} now that it is empty", path);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The launcher is stopping; leftovers are removed at its next start.
        }
    }

    /// <summary>Removes the empty uep-* cgroups of UEPs not running here (leftovers of a launcher that stopped), older
    /// than a minute; ones still holding processes are kept (and named) until a later start.</summary>
    public void Sweep(IReadOnlySet<string> runningUepIds)
    {
        foreach (var hierarchy in hierarchies)
        {
            if (!Directory.Exists(hierarchy.ParentDirectory))
            {
                continue;
            }

            foreach (var directory in Directory.EnumerateDirectories(hierarchy.ParentDirectory, Prefix + "*"))
            {
                var id = Path.GetFileName(directory)[Prefix.Length..];
                if (!RequestValidator.IsCanonicalUuid(id) || runningUepIds.Contains(id)
                    || Directory.GetLastWriteTimeUtc(directory) > DateTime.UtcNow - SweepMinimumAge)
                {
                    continue;
                }

                if (TryRemove(directory))
                {
                    logger.LogInformation("Removed leftover cgroup {Cgroup}", directory);
                }
                else
                {
                    logger.LogWarning("Leftover cgroup {Cgroup} still has processes of no running UEP; kept", directory);
                }
            }
        }
    }

    private List<Hierarchy> Detect(List<string> reasons)
    {
        List<CgroupMount> mounts;
        try
        {
            mounts = CgroupMounts.Read();
        }
        catch (IOException e)
        {
            reasons.Add($"cannot read /proc/self/mountinfo: {e.Message}");
            return [];
        }

        var (v2, v1Memory, v1Pids) = CgroupMounts.Find(mounts);
        if (v2 is not null)
        {
            var controllers = ReadControllers(v2.MountPoint);
            if (controllers.Contains("memory") && controllers.Contains("pids"))
            {
                var hierarchy = new Hierarchy(v2, Path.Combine(v2.MountPoint, settings.Parent), Memory: true, Pids: true);
                if (TryPrepare(hierarchy, reasons))
                {
                    return [hierarchy];
                }
            }
            else
            {
                reasons.Add($"cgroup v2 at {v2.MountPoint} offers [{string.Join(' ', controllers)}], not memory and pids");
            }
        }
        else
        {
            reasons.Add("no cgroup v2 hierarchy is mounted");
        }

        var found = new List<Hierarchy>();
        foreach (var (mount, memory) in new[] { (v1Memory, true), (v1Pids, false) })
        {
            if (mount is null)
            {
                reasons.Add($"no cgroup v1 {(memory ? "memory" : "pids")} hierarchy is mounted");
                continue;
            }

            var hierarchy = new Hierarchy(mount, Path.Combine(mount.MountPoint, settings.Parent), memory, !memory);
            if (ReferenceEquals(v1Memory, v1Pids) && found.Count == 1)
            {
                found[0] = found[0] with { Pids = true }; // both controllers co-mounted in one hierarchy
            }
            else if (TryPrepare(hierarchy, reasons))
            {
                found.Add(hierarchy);
            }
        }

        return found;
    }

    private bool TryPrepare(Hierarchy hierarchy, List<string> reasons)
    {
        try
        {
            EnsureParent(hierarchy);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            reasons.Add($"cannot prepare {hierarchy.ParentDirectory}: {ChildSupervisor.OneLine(e.Message)}");
            return false;
        }
    }

    // Makes the parent cgroups (0755 root) and, on v2, enables memory and pids for the children of each level, from
    // the root down. Done at every start too: someone may have removed the parent since.
    private static void EnsureParent(Hierarchy hierarchy)
    {
        var directory = hierarchy.Mount.MountPoint;
        foreach (var component in Path.GetRelativePath(hierarchy.Mount.MountPoint, hierarchy.ParentDirectory).Split('/'))
        {
            if (hierarchy.Mount.IsV2)
            {
                EnableControllers(directory);
            }

            directory = Path.Combine(directory, component);
            if (!Directory.Exists(directory))
            {
                Directory.CreateDirectory(directory, (UnixFileMode)0b111_101_101);
            }
        }

        if (hierarchy.Mount.IsV2)
        {
            EnableControllers(directory);
        }
    }

    private static void EnableControllers(string directory)
    {
        var file = Path.Combine(directory, "cgroup.subtree_control");
        var enabled = File.ReadAllText(file).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (!enabled.Contains("memory") || !enabled.Contains("pids"))
        {
            Write(file, "+memory +pids");
        }
    }

    // Every limit is written, "max"/-1 where none is asked: a cgroup left from an earlier run must not keep old ones.
    private static List<string> WriteLimits(Hierarchy hierarchy, string path, ResourceLimits limits)
    {
        var written = new List<string>();
        void Set(string name, string value)
        {
            Write(Path.Combine(path, name), value);
            written.Add($"{name} {value}");
        }

        static string Number(long? value, string unlimited) => value?.ToString(CultureInfo.InvariantCulture) ?? unlimited;

        if (hierarchy.Mount.IsV2)
        {
            Set("memory.max", Number(limits.MemoryMaxBytes, "max"));
            // memory_max bounds RAM and swap together, as v1's memsw does: the UEP does not push a login node into swap.
            if (File.Exists(Path.Combine(path, "memory.swap.max")))
            {
                Set("memory.swap.max", limits.MemoryMaxBytes is null ? "max" : "0");
            }

            Set("pids.max", Number(limits.PidsMax, "max"));
            return written;
        }

        if (hierarchy.Memory)
        {
            // memsw (memory + swap) may never be below the memory limit: lift it first, then set both.
            var memsw = Path.Combine(path, "memory.memsw.limit_in_bytes");
            var hasMemsw = File.Exists(memsw);
            if (hasMemsw)
            {
                Write(memsw, "-1");
            }

            Set("memory.limit_in_bytes", Number(limits.MemoryMaxBytes, "-1"));
            if (hasMemsw)
            {
                Set("memory.memsw.limit_in_bytes", Number(limits.MemoryMaxBytes, "-1"));
            }
        }

        if (hierarchy.Pids)
        {
            Set("pids.max", Number(limits.PidsMax, "max"));
        }

        return written;
    }

    private static void Write(string file, string value)
    {
        try
        {
            // Open, never create: a missing control file is an error, not a new plain file.
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Write);
            stream.Write(System.Text.Encoding.ASCII.GetBytes(value));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot write '{value}' to {file}: {ChildSupervisor.OneLine(e.Message)}", e);
        }
    }

    private static HashSet<string> ReadControllers(string directory)
    {
        try
        {
            return [.. File.ReadAllText(Path.Combine(directory, "cgroup.controllers")).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static string Controllers(Hierarchy h) => h is { Memory: true, Pids: true } ? "memory+pids" : h.Memory ? "memory" : "pids";

    // rmdir: the kernel refuses (EBUSY) while processes are in it.
    private bool TryRemove(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: false);
            }

            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogDebug("Cannot remove cgroup {Cgroup} yet: {Reason}", path, e.Message);
            return false;
        }
    }
}
