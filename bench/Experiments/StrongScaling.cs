using System.Diagnostics;
using Spectre.Console;

namespace Mep.Bench.Experiments;

/// <summary>
/// Experiment 2 (paper Figure 2b): a fixed set of sleep tasks spread over U new UEPs × W workers each (U·W = tasks),
/// all submitted at once; the clock runs from submission to the last result, UEP start-up included. Ideal (the
/// baseline): one task's sleep. Efficiency = ideal / measured.
/// </summary>
internal static class StrongScaling
{
    public const string Name = "2 strong scaling";

    public static async Task RunAsync(BenchContext ctx, Results results, ProgressTask progress, CancellationToken ct)
    {
        var tasks = ctx.Run.ScalingTasks;
        var seconds = ctx.Run.ScalingTaskSeconds;
        var splits = ctx.Run.ScalingUeps.Where(u => tasks % u == 0).ToList();
        progress.MaxValue = splits.Count * tasks;
        var measured = new List<(double, double)>();
        foreach (var ueps in splits)
        {
            var workers = tasks / ueps;
            var executors = Enumerable.Range(0, ueps).Select(_ => ctx.NewExecutor(ctx.FreshConfig($"scale{ueps}x{workers}", workers), BenchContext.Eager)).ToList();
            var clock = Stopwatch.StartNew();
            try
            {
                var args = new Dictionary<string, string> { ["seconds"] = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture) };
                await Task.WhenAll(executors.SelectMany(e => Enumerable.Range(0, workers).Select(async _ =>
                {
                    var result = await e.Submit(ctx.Sleep, args);
                    if (result.ReturnCode != 0 || result.Error is not null)
                    {
                        throw new BenchTaskFailedException($"a sleep task failed ({result.ReturnCode}): {result.Error ?? result.Stderr}");
                    }
                    progress.Increment(1);
                })));
                var elapsed = clock.Elapsed.TotalSeconds;
                measured.Add((ueps, elapsed));
                var efficiency = 100 * seconds / elapsed;
                var goal = ueps <= 8 ? 90 : ueps == 64 ? 60 : (double?)null;
                results.Add(new Measurement(Name, $"{ueps} UEPs × {workers} workers", elapsed, "s", "ideal (one task)", seconds,
                    goal is { } g ? $"efficiency ≥ {g:F0}%" : null, goal is { } h ? efficiency >= h : null));
                results.Add(new Measurement(Name, $"{ueps} × {workers} efficiency", efficiency, "%"));
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
        const string x = "user endpoints (workers each = tasks / UEPs)";
        const string y = "time to the last result (s)";
        results.Series.Add(new Series(Name, $"MEP, {tasks} × sleep {seconds:F0} s", x, y, measured));
        results.Series.Add(new Series(Name, "ideal: one task's sleep (baseline)", x, y, [.. splits.Select(u => ((double)u, seconds))]) { Baseline = true });
        results.Notes.Add($"Strong scaling: {tasks} shell tasks `sleep {seconds:F0}` over U new UEPs × {tasks}/U workers (local provider, one block), " +
            "all submitted at once through one executor per UEP (no batch window, 1 ms poll); time includes UEP start-up.");
    }
}
