using System.Diagnostics;
using Spectre.Console;

namespace Mep.Bench.Experiments;

/// <summary>
/// Experiment 1 (paper Figure 2a): the time from submitting a no-op to each of n new UEPs until every result is back,
/// (a) one UEP after another, each waited for before the next (the paper's single executor), and (b) all n at once.
/// Baseline: n bare processes started as the user that connect to the broker (<see cref="BareStart"/>): n times one
/// for (a), n at once for (b). The UEPs of a point are stopped before the next point starts.
/// </summary>
internal static class UepCreation
{
    public const string Name = "1 UEP creation";

    public static async Task RunAsync(BenchContext ctx, Results results, ProgressTask progress, CancellationToken ct)
    {
        var counts = ctx.Run.CreationCounts;
        progress.MaxValue = 2 * counts.Sum() + 2 * counts.Count;
        var sequential = new List<(double, double)>();
        var atOnce = new List<(double, double)>();
        var bareSequential = new List<(double, double)>();
        var bareAtOnce = new List<(double, double)>();
        var singles = new List<double>();
        // The probes log in to the raw baselines' virtual host, which exists while this is open.
        await using var broker = await RawBroker.OpenAsync(ctx.Broker, ct);
        var bareOne = await BareStart.MedianAsync(ctx, 1, ctx.Run.BaselineSamples, ct);
        var programOnly = new List<double>();
        for (var i = 0; i < ctx.Run.BaselineSamples; i++)
        {
            programOnly.Add((await BareStart.ProgramOnlyAsync(ctx, ct)).TotalSeconds);
        }

        foreach (var n in counts)
        {
            var ids = new List<string>();
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < n; i++)
            {
                var one = Stopwatch.StartNew();
                ids.Add(await CreateAsync(ctx, ct));
                singles.Add(one.Elapsed.TotalSeconds);
                progress.Increment(1);
            }
            sequential.Add((n, clock.Elapsed.TotalSeconds));
            bareSequential.Add((n, n * bareOne));
            await ctx.StopAsync(ids, ct);

            clock.Restart();
            ids = [.. await Task.WhenAll(Enumerable.Range(0, n).Select(async _ =>
            {
                var id = await CreateAsync(ctx, ct);
                progress.Increment(1);
                return id;
            }))];
            atOnce.Add((n, clock.Elapsed.TotalSeconds));
            await ctx.StopAsync(ids, ct);
            bareAtOnce.Add((n, await BareStart.MedianAsync(ctx, n, Math.Max(1, ctx.Run.BaselineSamples / 3), ct)));
            progress.Increment(2);
        }

        var cold = Stats.Median(singles);
        results.Add(new Measurement(Name, $"cold start, one UEP (median of {singles.Count})", cold, "s", "bare process + connect", bareOne,
            "≤ 2× baseline", cold <= 2 * bareOne));
        results.Add(new Measurement(Name, "bare UEP program start alone (mep-endpoint --help)", Stats.Median(programOnly), "s"));
        for (var i = 0; i < counts.Count; i++)
        {
            var n = counts[i];
            results.Add(new Measurement(Name, $"{n} one after another", sequential[i].Item2, "s", $"{n} × bare", bareSequential[i].Item2));
            var many = atOnce[i].Item2;
            results.Add(new Measurement(Name, $"{n} at once", many, "s", $"{n} bare at once", bareAtOnce[i].Item2,
                n == 64 ? "≤ 10 s" : null, n == 64 ? many <= 10 : null));
        }
        const string x = "user endpoints created";
        const string y = "time until every no-op result (s)";
        results.Series.Add(new Series(Name, "MEP, one after another", x, y, sequential));
        results.Series.Add(new Series(Name, "MEP, all at once", x, y, atOnce));
        results.Series.Add(new Series(Name, "baseline: bare start + connect, one after another", x, y, bareSequential) { Baseline = true });
        results.Series.Add(new Series(Name, "baseline: bare start + connect, all at once", x, y, bareAtOnce) { Baseline = true });
        results.Notes.Add("UEP creation: each UEP is new (a fresh label in the user config), one worker; the clock runs from the submit " +
            "of a Python no-op to its result, UEP start included. Baseline: " +
            "the UEP program itself as the bench user (setpriv), `mep-endpoint probe-connect`: it opens an AMQP connection with the UEP's " +
            "own connect code and a channel and exits (same binary, runtime and RabbitMQ client as a UEP), medians of " +
            $"{ctx.Run.BaselineSamples} samples; the endpoint allows 64 concurrent starts (the default is 16).");
    }

    /// <summary>One no-op to a new UEP; returns the UEP's id once the result is back.</summary>
    private static async Task<string> CreateAsync(BenchContext ctx, CancellationToken ct)
    {
        await using var executor = ctx.NewExecutor(ctx.FreshConfig("create"), BenchContext.Eager);
        await BenchContext.NoopAsync(executor, ctx.Noop);
        ct.ThrowIfCancellationRequested();
        return executor.UserEndpointId ?? throw new InvalidOperationException("no user endpoint id after a task");
    }
}
