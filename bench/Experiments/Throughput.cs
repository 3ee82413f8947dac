using System.Collections.Concurrent;
using System.Diagnostics;
using Mep.Bench.Site;
using Mep.Sdk;
using Spectre.Console;

namespace Mep.Bench.Experiments;

/// <summary>
/// Experiment 4: no-op tasks per second for a fixed time with 1, 4 and 16 UEPs (two workers each), each fed by its
/// own executor; <see cref="InFlight"/> tasks are kept outstanding in all, split over the UEPs (at least
/// <see cref="FewInFlight"/> each), so every point offers the site the same concurrency. The rate counts tasks whose
/// result came back within the window. Baseline: raw publish-with-confirms → consume → ack on the same broker, same duration.
/// </summary>
internal static class Throughput
{
    public const string Name = "4 throughput";
    // In all, not per UEP: 256 per UEP with 16 UEPs (4096 outstanding, SDK batches of 256) made the endpoint grain's
    // submits time out (30 s) on the development machine, which says more about that than about throughput.
    private const int InFlight = 256;

    /// <summary>A second 1-UEP point with few tasks in flight: if the rate rises as fewer tasks wait, per-task cost grows
    /// with the queue (the UEP grain writes its whole pending list with every change).</summary>
    private const int FewInFlight = 16;
    private const int WorkersPerUep = 2;

    public static async Task RunAsync(BenchContext ctx, Results results, ProgressTask progress, CancellationToken ct)
    {
        var duration = ctx.Run.ThroughputDuration;
        progress.MaxValue = (ctx.Run.ThroughputUeps.Count + 2) * duration.TotalSeconds;
        double rawRate;
        await using (var broker = await RawBroker.OpenAsync(ctx.Broker, ct))
        {
            rawRate = await broker.PipelineRateAsync(duration, ct);
        }
        progress.Increment(duration.TotalSeconds);

        var points = new List<(double, double)>();
        foreach (var ueps in ctx.Run.ThroughputUeps)
        {
            var (rate, drained, cpu) = await MeasureAsync(ctx, ueps, Math.Max(FewInFlight, InFlight / ueps), duration, progress, ct);
            points.Add((ueps, rate));
            var plural = ueps > 1 ? "s" : "";
            results.Add(new Measurement(Name, $"{ueps} UEP{plural}", rate, "tasks/s", "raw publish-confirm-consume-ack", rawRate,
                "≥ 5000/s and ≥ 25% of raw", rate >= 5000 && rate >= 0.25 * rawRate));
            results.Add(new Measurement(Name, $"{ueps} UEP{plural}, all submitted ÷ time to the last result", drained, "tasks/s", "raw publish-confirm-consume-ack", rawRate));
            // What a task cost, and where: the machine's CPU is the limit, so this says which part to cut.
            results.Add(new Measurement(Name, $"{ueps} UEP{plural}, CPU per task, all site processes", cpu.Values.Sum(), "ms"));
            if (ueps == ctx.Run.ThroughputUeps[0])
            {
                foreach (var role in SiteCpu.Roles)
                {
                    results.Add(new Measurement(Name, $"{ueps} UEP{plural}, CPU per task: {role}", cpu[role], "ms"));
                }
            }
        }
        var (few, _, _) = await MeasureAsync(ctx, 1, FewInFlight, duration, progress, ct);
        results.Add(new Measurement(Name, $"1 UEP, {FewInFlight} in flight (not {InFlight})", few, "tasks/s", "raw publish-confirm-consume-ack", rawRate));
        results.Series.Add(new Series(Name, "MEP (durable no-op tasks)", "user endpoints", "tasks per second", points));
        results.Series.Add(new Series(Name, "raw broker (baseline)", "user endpoints", "tasks per second",
            [.. ctx.Run.ThroughputUeps.Select(u => ((double)u, rawRate))]));
        results.Notes.Add($"Throughput: {duration.TotalSeconds:F0} s per point after {WarmUp(duration).TotalSeconds:F0} s of the same load uncounted, {WorkersPerUep} workers per UEP, {InFlight} tasks in flight " +
            $"in all (split over the UEPs, at least {FewInFlight} each) through the SDK (default options), and 1 UEP with {FewInFlight} in flight; raw baseline one publisher (confirms per 256) and one consumer. " +
            "CPU per task: utime + stime from /proc/PID/stat over the measured window, by process role, divided by the tasks done in it.");
    }

    /// <summary>Tasks done within the window per second, and every task submitted in it over the time to the last result.</summary>
    private static async Task<(double InWindow, double Drained, Dictionary<string, double> CpuMsPerTask)> MeasureAsync(BenchContext ctx, int ueps, int inFlight, TimeSpan duration, ProgressTask progress, CancellationToken ct)
    {
        var executors = Enumerable.Range(0, ueps).Select(_ => ctx.NewExecutor(ctx.FreshConfig($"tput{ueps}", WorkersPerUep))).ToList();
        try
        {
            // Start every UEP and warm its workers before the clock runs.
            await Task.WhenAll(executors.Select(e => Task.WhenAll(Enumerable.Range(0, 2 * WorkersPerUep).Select(_ => BenchContext.NoopAsync(e, ctx.Noop)))));
            var failures = new ConcurrentQueue<Exception>();
            // Then the same load, uncounted, for WarmUp: the rate is a sustained one, not that of processes (the silo's
            // and this one's) still compiling their hot paths.
            var warming = Stopwatch.StartNew();
            await Task.WhenAll(executors.Select(e => FeedAsync(e, ctx.Noop, inFlight, warming, WarmUp(duration), () => { }, () => { }, failures)));
            var cpuBefore = SiteCpu.Snapshot(ctx.Site);
            var clock = Stopwatch.StartNew();
            long inWindow = 0;
            long submitted = 0;
            var feeders = executors.Select(e => FeedAsync(e, ctx.Noop, inFlight, clock, duration, () => Interlocked.Increment(ref inWindow), () => Interlocked.Increment(ref submitted), failures)).ToList();
            while (clock.Elapsed < duration)
            {
                await Task.Delay(250, ct);
                progress.Value = Math.Min(progress.MaxValue, progress.Value + 0.25);
            }
            var cpu = SiteCpu.Spent(cpuBefore, SiteCpu.Snapshot(ctx.Site));
            await Task.WhenAll(feeders);
            if (failures.TryDequeue(out var failure))
            {
                throw new BenchTaskFailedException($"throughput with {ueps} UEPs: a task failed: {failure.Message}");
            }
            var done = Interlocked.Read(ref inWindow);
            return (done / duration.TotalSeconds, Interlocked.Read(ref submitted) / clock.Elapsed.TotalSeconds,
                cpu.ToDictionary(c => c.Key, c => done > 0 ? c.Value * 1000 / done : double.NaN));
        }
        finally
        {
            var ids = executors.Select(e => e.UserEndpointId).OfType<string>().ToList();
            foreach (var e in executors)
            {
                await e.DisposeAsync();
            }
            await ctx.StopAsync(ids, ct);
        }
    }

    /// <summary>How long each point runs its load before the measured window: a third of the window, 2–10 s.</summary>
    internal static TimeSpan WarmUp(TimeSpan duration) => TimeSpan.FromSeconds(Math.Clamp(duration.TotalSeconds / 3, 2, 10));

    /// <summary>Keeps <paramref name="inFlight"/> tasks outstanding until the window closes, then waits for the rest.</summary>
    private static async Task FeedAsync(Executor executor, Guid noop, int inFlight, Stopwatch clock, TimeSpan duration, Action counted, Action sent,
        ConcurrentQueue<Exception> failures)
    {
        using var slots = new SemaphoreSlim(inFlight);
        var pending = new List<Task>();
        while (clock.Elapsed < duration)
        {
            var left = duration - clock.Elapsed;
            if (left <= TimeSpan.Zero || !await slots.WaitAsync(left) || clock.Elapsed >= duration)
            {
                continue; // the loop condition ends it once the window has closed
            }
            sent();
            pending.Add(executor.SubmitPython(noop).ContinueWith(t =>
            {
                slots.Release();
                if (t.IsFaulted)
                {
                    failures.Enqueue(t.Exception!.GetBaseException());
                }
                else if (clock.Elapsed <= duration)
                {
                    counted();
                }
            }, TaskScheduler.Default));
        }
        await Task.WhenAll(pending);
    }
}
