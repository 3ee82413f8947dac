using System.Globalization;

namespace Mep.Bench.Site;

/// <summary>A process of the site seen through /proc: pid, whether it is a worker, and its resident set.</summary>
internal sealed record ProcInfo(int Pid, bool IsWorker, long RssBytes);

/// <summary>
/// The bench account's UEP processes (<c>mep-endpoint</c> managers and their <c>mep-endpoint worker</c>s), found in
/// /proc by owner and program, for memory figures and for the final clean-up.
/// </summary>
internal static class UepProcesses
{
    public static IReadOnlyList<ProcInfo> List(int uid, string endpointProgram)
    {
        var found = new List<ProcInfo>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }
            try
            {
                var status = File.ReadAllLines(Path.Combine(dir, "status"));
                if (ProcStatus.Uid(status) != uid)
                {
                    continue;
                }
                var argv = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0', StringSplitOptions.RemoveEmptyEntries);
                if (argv.Length == 0 || argv[0] != endpointProgram)
                {
                    continue;
                }
                found.Add(new ProcInfo(pid, argv.Length > 1 && argv[1] == "worker", ProcStatus.RssBytes(status)));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone between listing and reading: not running, not counted.
            }
        }
        return found;
    }

    public static void KillAll(int uid, string endpointProgram)
    {
        if (uid <= 0)
        {
            return;
        }
        foreach (var p in List(uid, endpointProgram))
        {
            Native.KillNow(p.Pid);
        }
    }
}

/// <summary>Fields of /proc/PID/status.</summary>
internal static class ProcStatus
{
    /// <summary>VmRSS in bytes (0 for a process without memory, e.g. a zombie).</summary>
    public static long RssBytes(IEnumerable<string> status) => Field(status, "VmRSS:") is { } kb ? kb * 1024 : 0;

    public static int Uid(IEnumerable<string> status) => (int)(Field(status, "Uid:") ?? -1);

    public static long RssBytes(int pid)
    {
        try
        {
            return RssBytes(File.ReadAllLines($"/proc/{pid}/status"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    private static long? Field(IEnumerable<string> status, string name)
    {
        var line = status.FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal));
        var first = line?[name.Length..].Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
        return long.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;
    }
}
