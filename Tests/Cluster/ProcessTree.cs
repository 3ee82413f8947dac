using System.Globalization;

namespace Mep.Tests.Cluster;

/// <summary>
/// Kills whole process trees the way a dying machine does: every process at once, none given a chance to react.
/// A UEP and its workers start sessions of their own (setsid), so a session or process group does not hold them;
/// parenthood does, until a parent dies and its children are reparented. So the tree is frozen first (SIGSTOP: a
/// stopped process cannot fork), read again until it stops growing, and only then killed. Signals go through kill(2)
/// directly: the roots are stopped within microseconds of each other, before any of them can notice the others' end.
/// </summary>
internal static class ProcessTree
{
    private const int SigStop = 19;

    public static IReadOnlyCollection<int> KillWithDescendants(IReadOnlyCollection<int> roots)
    {
        foreach (var pid in roots)
        {
            Mep.Endpoint.Native.Kill(pid, SigStop);
        }

        var frozen = new HashSet<int>(roots);
        while (true)
        {
            var tree = WithDescendants(roots);
            tree.ExceptWith(frozen);
            if (tree.Count == 0)
            {
                break;
            }

            foreach (var pid in tree)
            {
                Mep.Endpoint.Native.Kill(pid, SigStop);
                frozen.Add(pid);
            }
        }

        foreach (var pid in frozen)
        {
            Mep.Endpoint.Native.Kill(pid, Mep.Endpoint.Native.SIGKILL);
        }

        return frozen;
    }

    /// <summary>The given pids that still run, and every process descended from them.</summary>
    public static HashSet<int> WithDescendants(IEnumerable<int> roots)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var (pid, parent) in Processes())
        {
            if (!children.TryGetValue(parent, out var list))
            {
                children[parent] = list = [];
            }

            list.Add(pid);
        }

        var found = new HashSet<int>();
        var pending = new Stack<int>(roots.Where(Mep.Tests.Launcher.ProcFiles.IsRunning));
        while (pending.TryPop(out var pid))
        {
            if (found.Add(pid) && children.TryGetValue(pid, out var kids))
            {
                kids.ForEach(pending.Push);
            }
        }

        return found;
    }

    private static IEnumerable<(int Pid, int Parent)> Processes()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            int parent;
            try
            {
                parent = int.Parse(Mep.Tests.Launcher.ProcFiles.Stat(pid, 4), CultureInfo.InvariantCulture);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // exited while we looked
            }

            yield return (pid, parent);
        }
    }
}
