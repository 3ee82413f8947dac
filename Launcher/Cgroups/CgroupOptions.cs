using System.Text.RegularExpressions;

namespace Mep.Launcher.Cgroups;

/// <summary>
/// Where and whether every UEP gets a cgroup of its own (section <c>Launcher:Cgroups</c>): <c>PARENT/uep-ID</c> under
/// the cgroup v2 root when it offers the memory and pids controllers, else under the v1 memory and pids hierarchies.
/// </summary>
public sealed partial class CgroupOptions
{
    /// <summary>The cgroup (relative to each hierarchy's root) the UEP cgroups are made in; created 0755 by the launcher.
    /// Under systemd with cgroup v2 a delegated subtree can be named here (e.g. <c>mep.slice/ueps</c>).</summary>
    public string Parent { get; set; } = "mep";

    /// <summary>Refuse every start when no cgroup can be made (or a requested limit has no controller); by default the
    /// UEP starts without and the start's answer (and the silo's audit entry) says so.</summary>
    public bool Required { get; set; }

    [GeneratedRegex(@"\A[A-Za-z0-9_][A-Za-z0-9_.@:-]{0,63}\z")]
    private static partial Regex Component();

    /// <summary>A relative path of plain names: no "..", no leading "/", nothing a shell or the kernel could misread.</summary>
    public static bool IsValidParent(string parent) =>
        parent.Length is > 0 and <= 255 && parent.Split('/').All(c => Component().IsMatch(c) && c != "." && c != "..");
}
