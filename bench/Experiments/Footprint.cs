using System.Diagnostics;
using Mep.Bench.Site;
using Spectre.Console;

namespace Mep.Bench.Experiments;

/// <summary>
/// Experiment 5: resident memory (VmRSS) of the silo idle and under load, of the launcher, of each UEP process (the
/// manager and its worker apart), and the silo as 10/100/200 UEPs are live at once. Baseline of the silo figures:
/// the idle silo of the same run. A level that would not fit in the machine's available memory (estimated from the
/// UEPs measured so far) is skipped and said so, not measured on a swapping machine.
/// </summary>
internal static class Footprint
{
    public const string Name = "5 footprint";
    private const double MB = 1024 * 1024;

    public static async Task RunAsync(BenchContext ctx, Results results, ProgressTask progress, CancellationToken ct)
    {
        var site = ctx.Site;
        var levels = ctx.Run.FootprintUeps;
        progress.MaxValue = levels[^1] + 10;
        await Task.Delay(TimeSpan.FromSeconds(2), ct); // let the previous experiment's garbage go
        var siloIdle = ProcStatus.RssBytes(site.Silo!.Pid) / MB;
        var launcher = ProcStatus.RssBytes(site.Launcher!.Pid) / MB;
        results.Add(new Measurement(Name, "silo, idle", siloIdle, "MB"));
        results.Add(new Measurement(Name, "launcher", launcher, "MB"));

        var loaded = await UnderLoadAsync(ctx, siloIdle, ct);
        results.Add(new Measurement(Name, "silo, under load (peak)", loaded, "MB", "silo idle", siloIdle));
        progress.Increment(10);

        var live = new List<string>();
        var siloCurve = new List<(double, double)> { (0, siloIdle) };
        var uepCurve = new List<(double, double)>();
        var workerCurve = new List<(double, double)>();
        var perUep = 150.0; // MB for a manager with its worker and shell, until measured
        try
        {
            foreach (var level in levels)
            {
                var more = level - live.Count;
                var available = MemAvailableMb();
                if (more * perUep > 0.6 * available)
                {
                    results.Notes.Add($"Footprint: {level} live UEPs skipped: about {more * perUep:F0} MB more needed, {available:F0} MB available.");
                    break;
                }
                // In waves of 16, as the endpoint admits 64 concurrent starts and the machine has few cores.
                while (live.Count < level)
                {
                    var wave = Math.Min(16, level - live.Count);
                    live.AddRange(await Task.WhenAll(Enumerable.Range(0, wave).Select(_ => StartOneAsync(ctx))));
                    progress.Value = live.Count + 10;
                }
                await Task.Delay(TimeSpan.FromSeconds(3), ct);
                site.EnsureAlive();
                var procs = UepProcesses.List(site.BenchUid, site.EndpointProgram);
                var managers = procs.Where(p => !p.IsWorker).Select(p => p.RssBytes / MB).ToList();
                var workers = procs.Where(p => p.IsWorker).Select(p => p.RssBytes / MB).ToList();
                if (managers.Count < level)
                {
                    throw new SiteFailedException($"{level} UEPs should be live, {managers.Count} UEP processes run");
                }
                var silo = ProcStatus.RssBytes(site.Silo.Pid) / MB;
                siloCurve.Add((level, silo));
                uepCurve.Add((level, Stats.Median(managers)));
                perUep = Stats.Median(managers) + (workers.Count > 0 ? Stats.Median(workers) : 0) + 10;
                results.Add(new Measurement(Name, $"silo, {level} live UEPs", silo, "MB", "silo idle", siloIdle,
                    level == 200 ? "≤ 250 MB" : null, level == 200 ? silo <= 250 : null));
                results.Add(new Measurement(Name, $"UEP process (median of {managers.Count}), {level} live", Stats.Median(managers), "MB",
                    Target: "≤ 30 MB", Met: Stats.Median(managers) <= 30));
                if (workers.Count > 0)
                {
                    workerCurve.Add((level, Stats.Median(workers)));
                    results.Add(new Measurement(Name, $"worker process (median of {workers.Count}), {level} live", Stats.Median(workers), "MB"));
                }
            }
        }
        finally
        {
            await ctx.StopAsync(live, ct);
        }
        const string x = "live user endpoints";
        const string y = "resident memory, VmRSS (MB)";
        results.Series.Add(new Series(Name, "silo", x, y, siloCurve));
        results.Series.Add(new Series(Name, "one UEP process (median)", x, y, uepCurve));
        results.Series.Add(new Series(Name, "one worker process (median)", x, y, workerCurve));
        results.Series.Add(new Series(Name, "silo idle (baseline)", x, y, [.. siloCurve.Select(p => (p.Item1, siloIdle))]) { Baseline = true });
        var span = siloCurve.Select(p => p.Item1).ToList();
        results.Series.Add(new Series(Name, "goal: silo ≤ 250 MB at 200 UEPs", x, y, [(span.Min(), 250), (Math.Max(200, span.Max()), 250)]) { Goal = true });
        results.Series.Add(new Series(Name, "goal: UEP process ≤ 30 MB", x, y, [(span.Min(), 30), (Math.Max(200, span.Max()), 30)]) { Goal = true });
        results.Notes.Add("Footprint: VmRSS from /proc/PID/status; each live UEP ran one `sleep 0` (shell, one worker) and idles with its " +
            "worker (blocks are given back after min(2 min, idle_timeout/2)); under load = peak while one UEP with two workers runs no-ops for 5 s, 64 in flight.");
    }

    private static async Task<string> StartOneAsync(BenchContext ctx)
    {
        await using var executor = ctx.NewExecutor(ctx.FreshConfig("mem"), BenchContext.Eager);
        var result = await executor.Submit(ctx.Sleep, new Dictionary<string, string> { ["seconds"] = "0" });
        if (result.ReturnCode != 0)
        {
            throw new BenchTaskFailedException($"sleep 0 failed: {result.Error ?? result.Stderr}");
        }
        return executor.UserEndpointId ?? throw new InvalidOperationException("no user endpoint id");
    }

    /// <summary>
    /// Peak silo RSS while one UEP with two workers takes no-ops for 5 s, 64 kept in flight (a fixed count, so the load
    /// lasts as long on a slow machine as on a fast one).
    /// </summary>
    private static async Task<double> UnderLoadAsync(BenchContext ctx, double idle, CancellationToken ct)
    {
        var peak = idle;
        var executor = ctx.NewExecutor(ctx.FreshConfig("memload", 2));
        await BenchContext.NoopAsync(executor, ctx.Noop);
        var clock = Stopwatch.StartNew();
        var pending = new List<Task>();
        while (clock.Elapsed < TimeSpan.FromSeconds(5))
        {
            pending.RemoveAll(t => t.IsCompletedSuccessfully);
            while (pending.Count < 64)
            {
                pending.Add(BenchContext.NoopAsync(executor, ctx.Noop));
            }
            await Task.WhenAny(Task.WhenAny(pending), Task.Delay(100, ct));
            peak = Math.Max(peak, ProcStatus.RssBytes(ctx.Site.Silo!.Pid) / MB);
        }
        await Task.WhenAll(pending);
        peak = Math.Max(peak, ProcStatus.RssBytes(ctx.Site.Silo!.Pid) / MB);
        var uep = executor.UserEndpointId;
        await executor.DisposeAsync();
        if (uep is not null)
        {
            await ctx.StopAsync([uep], ct);
        }
        return peak;
    }

    private static double MemAvailableMb()
    {
        var line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal));
        return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024;
    }
}
