using System.Diagnostics;
using Spectre.Console;

namespace Mep.Bench.Experiments;

/// <summary>
/// Experiment 3: no-op round trips SDK → result on a running UEP, one at a time, against raw durable request/reply
/// on the same broker. Measured twice on the MEP side: with the SDK tuned for latency (no batch window, 1 ms status
/// poll: the site's own cost) and with the SDK's defaults (what a user gets out of the box).
/// </summary>
internal static class WarmLatency
{
    public const string Name = "3 warm latency";

    public static async Task RunAsync(BenchContext ctx, Results results, ProgressTask progress, CancellationToken ct)
    {
        var n = ctx.Run.LatencyTasks;
        var nDefault = ctx.Run.DefaultSdkLatencyTasks;
        progress.MaxValue = 2 * n + nDefault + 20;
        // (the step split's 50 extra tasks are not on the bar: they take a second or two)

        var config = ctx.FreshConfig("latency");
        string uep;
        var raw = new List<TimeSpan>(n);
        var eager = new List<double>(n);
        var defaults = new List<double>(nDefault);
        await using (var broker = await RawBroker.OpenAsync(ctx.Broker, ct))
        await using (var eagerExecutor = ctx.NewExecutor(config, BenchContext.Eager))
        await using (var defaultExecutor = ctx.NewExecutor(config))
        {
            for (var i = 0; i < 20; i++) // start the UEP and warm the worker's interpreter
            {
                await BenchContext.NoopAsync(eagerExecutor, ctx.Noop);
                progress.Increment(1);
            }
            uep = eagerExecutor.UserEndpointId ?? throw new InvalidOperationException("no user endpoint id after a task");
            await WarmUpAsync(eagerExecutor, ctx.Noop, ctx.Run.LatencyWarmUp);
            await WarmUpAsync(defaultExecutor, ctx.Noop, ctx.Run.LatencyWarmUp / 4);
            await broker.RequestReplyAsync(0, ctx.Run.LatencyWarmUp / 4, _ => { }, ct);

            // In interleaved blocks, so that the baseline and both SDK settings see the same machine: a ratio of runs
            // minutes apart moved with whatever else the host ran (medians of one setting differed by up to 40 %).
            for (var block = 0; block < LatencyBlocks; block++)
            {
                raw.AddRange(await broker.RequestReplyAsync(Share(n, block), TimeSpan.Zero, _ => progress.Increment(1), ct));
                await MeasureAsync(eagerExecutor, ctx.Noop, Share(n, block), eager, progress);
                await MeasureAsync(defaultExecutor, ctx.Noop, Share(nDefault, block), defaults, progress);
            }

            await SplitAsync(ctx, eagerExecutor, results, ct);
        }
        await ctx.StopAsync([uep], ct);

        var rawMs = raw.Select(t => t.TotalMilliseconds).ToList();
        foreach (var (q, label, factor) in new[] { (0.5, "p50", 3.0), (0.9, "p90", double.NaN), (0.99, "p99", 10.0) })
        {
            var baseline = Stats.Quantile(rawMs, q);
            var goal = double.IsNaN(factor) ? null : $"≤ {factor:F0}× raw";
            var sdk = Stats.Quantile(eager, q);
            results.Add(new Measurement(Name, $"{label} (SDK, 1 ms poll)", sdk, "ms", "raw durable request/reply", baseline,
                goal, double.IsNaN(factor) ? null : sdk <= factor * baseline));
            var sdkDefault = Stats.Quantile(defaults, q);
            results.Add(new Measurement(Name, $"{label} (SDK defaults)", sdkDefault, "ms", "raw durable request/reply", baseline,
                goal, double.IsNaN(factor) ? null : sdkDefault <= factor * baseline));
        }
        results.Series.Add(Cdf("SDK, 1 ms poll", eager));
        results.Series.Add(Cdf("SDK defaults", defaults));
        results.Series.Add(Cdf("raw request/reply (baseline)", rawMs));
        results.Notes.Add($"Warm latency: {n} tasks (1 ms poll) and {nDefault} (SDK defaults: no batch window, long polls) " +
            $"of a Python no-op on one warm UEP with one worker, interleaved with the raw baseline in {LatencyBlocks} blocks, after {ctx.Run.LatencyWarmUp.TotalSeconds:0.#} s " +
            $"(defaults: {ctx.Run.LatencyWarmUp.TotalSeconds / 4:0.#} s) of the same round trips uncounted; raw baseline {n} round trips after {ctx.Run.LatencyWarmUp.TotalSeconds / 4:0.#} s uncounted.");
    }

    /// <summary>Uncounted round trips for <paramref name="duration"/>: "warm" means past the runtime's warm-up too.</summary>
    private static async Task WarmUpAsync(Sdk.Executor executor, Guid noop, TimeSpan duration)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            await BenchContext.NoopAsync(executor, noop);
        }
    }

    private const int LatencyBlocks = 10;

    /// <summary>Block <paramref name="block"/>'s part of <paramref name="total"/> round trips (the parts add up to it).</summary>
    private static int Share(int total, int block) => total * (block + 1) / LatencyBlocks - total * block / LatencyBlocks;

    private static async Task MeasureAsync(Sdk.Executor executor, Guid noop, int count, List<double> samples, ProgressTask progress)
    {
        for (var i = 0; i < count; i++)
        {
            var clock = Stopwatch.StartNew();
            await BenchContext.NoopAsync(executor, noop);
            samples.Add(clock.Elapsed.TotalMilliseconds);
            progress.Increment(1);
        }
    }

    // Where a warm round trip goes, from the task's own transitions (worker's clock for running and success).
    private static readonly string[] Steps =
    [
        "submit → in the UEP's queue (API, grain, state write, publish)",
        "in queue → started on a worker",
        "started → done on the worker (Python no-op)",
        "done → SDK has the result (event stream, state write, status poll)",
        // The first step in finer parts: what the API and the grain do before the task is handed to the broker.
        "submit → the UEP grain has it (API, endpoint grain)",
        "the UEP grain has it → handed to the broker (task store, dispatch)",
        "submit → API answered (task durable)",
    ];

    /// <summary>Medians of the steps of a warm task, over a few more no-ops after the measured ones.</summary>
    private static async Task SplitAsync(BenchContext ctx, Sdk.Executor executor, Results results, CancellationToken ct)
    {
        var steps = Steps.Select(_ => new List<double>()).ToArray();
        for (var i = 0; i < 50; i++)
        {
            var submitted = DateTimeOffset.UtcNow;
            var tracked = executor.SubmitPythonTracked(ctx.Noop);
            var id = await tracked.Accepted;
            var answered = DateTimeOffset.UtcNow;
            await tracked.Result;
            var done = DateTimeOffset.UtcNow;
            var view = await ctx.Client.GetTaskAsync(id, ct);
            DateTimeOffset At(Protocol.Api.TaskLifecycleState s) => view.Transitions.Last(t => t.State == s).At;
            var queued = At(Protocol.Api.TaskLifecycleState.WaitingForNodes);
            var running = At(Protocol.Api.TaskLifecycleState.Running);
            var finished = At(Protocol.Api.TaskLifecycleState.Success);
            steps[0].Add((queued - submitted).TotalMilliseconds);
            steps[1].Add((running - queued).TotalMilliseconds);
            steps[2].Add((finished - running).TotalMilliseconds);
            steps[3].Add((done - finished).TotalMilliseconds);
            var received = At(Protocol.Api.TaskLifecycleState.WaitingForEndpoint);
            steps[4].Add((received - submitted).TotalMilliseconds);
            steps[5].Add((queued - received).TotalMilliseconds);
            steps[6].Add((answered - submitted).TotalMilliseconds);
        }
        for (var i = 0; i < Steps.Length; i++)
        {
            results.Add(new Measurement(Name, "median step: " + Steps[i], Stats.Median(steps[i]), "ms"));
        }
    }

    private static Series Cdf(string name, IReadOnlyList<double> ms)
    {
        var sorted = ms.Order().ToArray();
        var points = sorted.Select((v, i) => (v, 100.0 * (i + 1) / sorted.Length)).ToList();
        return new Series(Name, name, "round trip (ms, log scale)", "tasks completed within (%)", points) { LogX = true, Baseline = name.Contains("raw", StringComparison.Ordinal) };
    }
}
