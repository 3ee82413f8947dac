using System.Diagnostics;

namespace Mep.Bench;

/// <summary>One measurement: a round of events from first publish to the last one counted by the subscribers.</summary>
internal sealed record PhaseResult(string Phase, int Round, long Events, TimeSpan Elapsed, TimeSpan Publishing, long Delivered,
    long Duplicates, long OutOfOrder, long Stale, bool Complete)
{
    public double Rate => Delivered / Elapsed.TotalSeconds;
}

internal static class Phases
{
    public const string Raw = "raw rabbitmq";
    public const string External = "provider (external publishers)";
    public const string Orleans = "provider (orleans producers)";
    // Drain: the round is published while nobody consumes, then the clock runs from the consumers' (re)start to the
    // last event counted. It shows what each consuming side can take, which the live figures hide whenever
    // publishing into the broker is the slower half.
    public const string RawDrain = "raw rabbitmq (drain)";
    public const string ProviderDrain = "provider (drain)";
}

/// <summary>
/// The run: a fresh virtual host (unless one is given), the raw baseline's consumers and the silo side by side, a
/// warm-up of each path (grain activations, JIT, connections), then <see cref="BenchSettings.Rounds"/> rounds that
/// measure every path in turn (raw, provider with external publishers, provider with Orleans producers, then the two
/// drains), so that a change in the machine's load hits all of them alike.
/// </summary>
internal static class StreamBench
{
    public static async Task<IReadOnlyList<PhaseResult>> RunAsync(BenchSettings settings, bool verbose, Action<string> progress,
        CancellationToken ct)
    {
        var virtualHost = settings.VirtualHost ?? $"mep-bench-{Guid.NewGuid():N}"[..20];
        using var broker = new Broker(settings.Access, virtualHost);
        var created = await broker.EnsureVirtualHostAsync(ct);
        progress($"virtual host {virtualHost}{(created ? " (created for this run)" : "")}");
        var counter = new DeliveryCounter();
        var results = new List<PhaseResult>();
        try
        {
            await using var raw = await RawBaseline.StartAsync(broker, settings, counter, ct);
            progress("raw consumers ready; starting the silo");
            await using var silo = await ProviderSilo.StartAsync(broker, settings, counter, verbose, ct);
            progress("silo consumes every partition");
            await using var publishers = await ExternalPublisher.OpenAsync(broker, settings.Publishers, ct);

            var round = 0;
            var warmUp = settings with { EventsPerStream = Math.Min(settings.EventsPerStream, 20) };
            foreach (var phase in PhasesOf(settings))
            {
                var result = await MeasureAsync(phase, ++round, warmUp, raw, publishers, silo, counter, ct);
                progress($"warm-up {phase}: " +
                    (result.Complete ? $"{result.Events} events in {result.Elapsed.TotalSeconds:F2} s" : $"only {result.Delivered} of {result.Events} delivered"));
                if (!result.Complete)
                {
                    results.Add(result);
                    return results;
                }
            }
            for (var r = 1; r <= settings.Rounds; r++)
            {
                foreach (var phase in PhasesOf(settings))
                {
                    var result = await MeasureAsync(phase, ++round, settings, raw, publishers, silo, counter, ct) with { Round = r };
                    results.Add(result);
                    progress($"round {r} {phase}: {result.Rate:N0} events/s in {result.Elapsed.TotalSeconds:F2} s" +
                        (result.Complete ? "" : $" (INCOMPLETE: {result.Delivered} of {result.Events})"));
                    if (!result.Complete)
                    {
                        return results;
                    }
                }
            }
            return results;
        }
        finally
        {
            if (created)
            {
                await broker.DeleteVirtualHostAsync(CancellationToken.None);
            }
        }
    }

    private static IEnumerable<string> PhasesOf(BenchSettings settings) =>
        (settings.Live ? [Phases.Raw, Phases.External] : Array.Empty<string>())
            .Concat(settings.Live && settings.OrleansProducers ? [Phases.Orleans] : [])
            .Concat(settings.Drain ? [Phases.RawDrain, Phases.ProviderDrain] : []);

    private static async Task<PhaseResult> MeasureAsync(string phase, int round, BenchSettings settings, RawBaseline raw,
        ExternalPublisher publishers, ProviderSilo silo, DeliveryCounter counter, CancellationToken ct)
    {
        var toRaw = phase is Phases.Raw or Phases.RawDrain;
        var drain = phase is Phases.RawDrain or Phases.ProviderDrain;
        // Raw and provider rounds send identical messages (same stream namespace, so the same partition of each stream).
        var work = phase == Phases.Orleans ? null : ExternalPublisher.Prepare(settings, round, BenchStreams.External, publishers.Count);
        var exchange = toRaw ? RawBaseline.Exchange : ProviderSilo.Exchange;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(settings.Timeout);

        counter.Begin(round, settings.EventsPerRound);
        var published = TimeSpan.Zero;
        var start = Stopwatch.GetTimestamp();
        try
        {
            if (drain)
            {
                await (toRaw ? raw.PauseAsync(timeout.Token) : silo.StopAgentsAsync());
                start = Stopwatch.GetTimestamp();
                await publishers.PublishAsync(exchange, work!, settings.ConfirmBatch, timeout.Token);
                published = Stopwatch.GetElapsedTime(start);
                start = Stopwatch.GetTimestamp();
                await (toRaw ? raw.ResumeAsync(timeout.Token) : silo.StartAgentsAsync());
            }
            else
            {
                await (work is null
                    ? silo.PublishFromOrleansAsync(round, timeout.Token)
                    : publishers.PublishAsync(exchange, work, settings.ConfirmBatch, timeout.Token));
                published = Stopwatch.GetElapsedTime(start);
            }
            await counter.Done.WaitAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // Timed out: reported as incomplete with what did arrive.
        }
        var complete = counter.Done.IsCompleted;
        var elapsed = complete ? Stopwatch.GetElapsedTime(start, counter.CompletedAt) : Stopwatch.GetElapsedTime(start);
        return new PhaseResult(phase, round, settings.EventsPerRound, elapsed, published, counter.Unique, counter.Duplicates,
            counter.OutOfOrder, counter.Stale, complete);
    }
}
