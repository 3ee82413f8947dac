using System.Globalization;

namespace Mep.Bench.Site;

/// <summary>
/// CPU time (user + system, from /proc/PID/stat) of the site's processes by role, so that a throughput figure comes
/// with what each task cost and where: the silo, RabbitMQ, the launcher, the UEP managers, their workers, the workers'
/// python3, and this harness itself (the SDK client). Taken before and after a measured window; a process that exits
/// in between loses its share, which is why the window's UEPs are started before it.
/// </summary>
internal static class SiteCpu
{
    public const string Silo = "silo";
    public const string Broker = "RabbitMQ";
    public const string Launcher = "launcher";
    public const string Managers = "UEP managers";
    public const string Workers = "workers";
    public const string Python = "python3 (workers' slots)";
    public const string Client = "bench client (SDK)";

    public static readonly IReadOnlyList<string> Roles = [Silo, Broker, Launcher, Managers, Workers, Python, Client];

    // USER_HZ: the unit of utime and stime in /proc/PID/stat, 100 on every Linux ABI .NET runs on.
    private const double TicksPerSecond = 100;

    /// <summary>CPU seconds so far of each live process of the site, keyed by pid, with its role.</summary>
    public static Dictionary<int, (string Role, double Seconds)> Snapshot(BenchSite site)
    {
        var found = new Dictionary<int, (string, double)>();
        var self = Environment.ProcessId;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }
            try
            {
                var argv = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0', StringSplitOptions.RemoveEmptyEntries);
                var role = pid == self ? Client
                    : pid == site.Silo?.Pid ? Silo
                    : pid == site.Launcher?.Pid ? Launcher
                    : RoleOf(argv, dir, site);
                if (role is not null && Seconds(File.ReadAllText(Path.Combine(dir, "stat"))) is { } seconds)
                {
                    found[pid] = (role, seconds);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone between listing and reading.
            }
        }
        return found;
    }

    /// <summary>CPU seconds spent by each role between two snapshots (a process new in the second counts whole).</summary>
    public static Dictionary<string, double> Spent(Dictionary<int, (string Role, double Seconds)> before, Dictionary<int, (string Role, double Seconds)> after)
    {
        var spent = Roles.ToDictionary(r => r, _ => 0.0);
        foreach (var (pid, (role, seconds)) in after)
        {
            spent[role] += seconds - (before.TryGetValue(pid, out var b) && b.Role == role ? b.Seconds : 0);
        }
        return spent;
    }

    private static string? RoleOf(string[] argv, string dir, BenchSite site)
    {
        if (argv.Length == 0)
        {
            return null;
        }
        if (argv[0] == site.EndpointProgram)
        {
            return argv.Length > 1 && argv[1] == "worker" ? Workers : Managers;
        }
        if (Path.GetFileName(argv[0]).StartsWith("python", StringComparison.Ordinal))
        {
            // The workers' slots: python3 of the bench account (its UEPs run nothing else in python).
            return ProcStatus.Uid(File.ReadAllLines(Path.Combine(dir, "status"))) == site.BenchUid ? Python : null;
        }
        // The site's own RabbitMQ node: its Erlang VM names the node's directory among its arguments.
        return Path.GetFileName(argv[0]) == "beam.smp" && argv.Any(a => a.Contains(site.BrokerDirectory, StringComparison.Ordinal)) ? Broker : null;
    }

    /// <summary>utime + stime in seconds; the fields after the command name, which may itself hold spaces.</summary>
    private static double? Seconds(string stat)
    {
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return fields.Length > 12
               && long.TryParse(fields[11], NumberStyles.None, CultureInfo.InvariantCulture, out var user)
               && long.TryParse(fields[12], NumberStyles.None, CultureInfo.InvariantCulture, out var system)
            ? (user + system) / TicksPerSecond
            : null;
    }
}
