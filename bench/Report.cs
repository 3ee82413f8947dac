using System.Globalization;
using System.Text;
using Spectre.Console;

namespace Mep.Bench;

/// <summary>One path's median rate and its share of the raw rate measured the same way.</summary>
internal sealed record PathSummary(string Phase, double Median, double? OfRaw);

/// <summary>Median rates per path and the provider's share of the raw rate (issue 3's target: at least half).</summary>
internal sealed record Summary(IReadOnlyList<PathSummary> Paths, bool Complete)
{
    public const double Target = 0.5;

    /// <summary>The acceptance figure: provider with external publishers (as UEPs publish) against raw, live.</summary>
    public double? ExternalRatio => Paths.FirstOrDefault(p => p.Phase == Phases.External)?.OfRaw;

    public static Summary Of(IReadOnlyList<PhaseResult> results)
    {
        var medians = results.Where(r => r.Complete).GroupBy(r => r.Phase)
            .ToDictionary(g => g.Key, g => Median([.. g.Select(r => r.Rate)]));
        var paths = medians.Select(m =>
        {
            var baseline = m.Key switch
            {
                Phases.External or Phases.Orleans => Phases.Raw,
                Phases.ProviderDrain => Phases.RawDrain,
                _ => null,
            };
            double? ofRaw = baseline is not null && medians.TryGetValue(baseline, out var raw) && raw > 0 ? m.Value / raw : null;
            return new PathSummary(m.Key, m.Value, ofRaw);
        }).ToList();
        return new Summary(paths, results.All(r => r.Complete));
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        var mid = values.Count / 2;
        return values.Count % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
    }
}

internal static class Report
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static void Print(IAnsiConsole console, BenchSettings settings, IReadOnlyList<PhaseResult> results, Summary summary)
    {
        var table = new Table().Border(TableBorder.Simple).Title("rounds");
        foreach (var column in new[] { "path", "round", "delivered", "s", "events/s", "publish s", "dup", "order" })
        {
            table.AddColumn(column);
        }
        foreach (var r in results)
        {
            table.AddRow(Markup.Escape(r.Phase), r.Round.ToString(Inv), r.Delivered.ToString(Inv), r.Elapsed.TotalSeconds.ToString("F2", Inv),
                r.Rate.ToString("N0", Inv), r.Publishing.TotalSeconds.ToString("F2", Inv), r.Duplicates.ToString(Inv), r.OutOfOrder.ToString(Inv));
        }
        console.Write(table);

        var summaryTable = new Table().Border(TableBorder.Simple).Title("median of the rounds");
        summaryTable.AddColumn("path");
        summaryTable.AddColumn("events/s");
        summaryTable.AddColumn("of raw");
        foreach (var path in summary.Paths)
        {
            summaryTable.AddRow(Markup.Escape(path.Phase), path.Median.ToString("N0", Inv), path.OfRaw is { } x ? x.ToString("P0", Inv) : "");
        }
        console.Write(summaryTable);
        foreach (var (name, value) in settings.Describe())
        {
            console.MarkupLine($"[grey]{Markup.Escape(name)}:[/] {Markup.Escape(value)}");
        }
        console.MarkupLine(summary.ExternalRatio is { } ext
            ? ext >= Summary.Target
                ? $"[green]provider (external publishers) keeps {ext.ToString("P0", Inv)} of the raw rate: target of {Summary.Target:P0} met[/]"
                : $"[red]provider (external publishers) keeps {ext.ToString("P0", Inv)} of the raw rate: below the target of {Summary.Target:P0}[/]"
            : "[red]no ratio: a path did not complete[/]");
    }

    /// <summary>Writes <c>streams-{time}.md</c> and appends to <c>streams.csv</c> in <paramref name="directory"/>; returns the Markdown path.</summary>
    public static string Write(string directory, DateTimeOffset at, BenchSettings settings, IReadOnlyList<PhaseResult> results, Summary summary)
    {
        Directory.CreateDirectory(directory);
        var stamp = at.ToString("yyyyMMdd-HHmmss", Inv);
        var md = new StringBuilder();
        md.Append(Inv, $"# mep-bench streams, {at.ToString("u", Inv)}\n\n");
        foreach (var (name, value) in settings.Describe())
        {
            md.Append(Inv, $"- {name}: {value}\n");
        }
        md.Append("\n| path | events/s (median) | of raw (measured alike) |\n|---|---:|---:|\n");
        foreach (var path in summary.Paths)
        {
            md.Append(Inv, $"| {path.Phase} | {path.Median:F0} | {(path.OfRaw is { } x ? x.ToString("P0", Inv) : "")} |\n");
        }
        md.Append(Inv, $"\nTarget: the provider (external publishers) keeps at least {Summary.Target:P0} of the raw rate: ");
        md.Append(summary.ExternalRatio is { } e ? (e >= Summary.Target ? "met" : "NOT met") : "no figure (incomplete)").Append(".\n");
        md.Append("\n| path | round | events | delivered | seconds | events/s | publish s | duplicates | out of order | stale |\n");
        md.Append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        foreach (var r in results)
        {
            md.Append(Inv, $"| {r.Phase} | {r.Round} | {r.Events} | {r.Delivered} | {r.Elapsed.TotalSeconds:F2} | {r.Rate:F0} | ");
            md.Append(Inv, $"{r.Publishing.TotalSeconds:F2} | {r.Duplicates} | {r.OutOfOrder} | {r.Stale} |\n");
        }
        var mdPath = Path.Combine(directory, $"streams-{stamp}.md");
        File.WriteAllText(mdPath, md.ToString());

        var csvPath = Path.Combine(directory, "streams.csv");
        var csv = new StringBuilder();
        if (!File.Exists(csvPath))
        {
            csv.Append("time,path,round,events,delivered,seconds,events_per_s,publish_s,duplicates,out_of_order,stale,complete,");
            csv.Append("streams,message_size,publishers,confirm_batch,partitions,queue_type,prefetch,poll_ms,batch_size,cache_size\n");
        }
        foreach (var r in results)
        {
            csv.Append(Inv, $"{at.ToString("o", Inv)},{r.Phase},{r.Round},{r.Events},{r.Delivered},{r.Elapsed.TotalSeconds:F3},{r.Rate:F0},");
            csv.Append(Inv, $"{r.Publishing.TotalSeconds:F3},{r.Duplicates},{r.OutOfOrder},{r.Stale},{(r.Complete ? "yes" : "no")},");
            csv.Append(Inv, $"{settings.Streams},{settings.MessageSize},{settings.Publishers},{settings.ConfirmBatch},{settings.Partitions},");
            csv.Append(Inv, $"{settings.QueueType.ToString().ToLowerInvariant()},{settings.Prefetch},{settings.PollPeriod.TotalMilliseconds:F0},");
            csv.Append(Inv, $"{settings.BatchContainerBatchSize},{settings.CacheSize}\n");
        }
        File.AppendAllText(csvPath, csv.ToString());
        return mdPath;
    }
}
