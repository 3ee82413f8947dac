using System.Globalization;
using System.Text;
using Spectre.Console;

namespace Mep.Bench.Experiments;

/// <summary>The summary of a site run: a Markdown file and CSVs under the results directory, and a table on the console.</summary>
internal static class SiteReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static void Print(IAnsiConsole console, Results results)
    {
        var table = new Table().Border(TableBorder.Simple).Title("mep-bench site");
        foreach (var column in new[] { "experiment", "metric", "value", "baseline", "ratio", "goal", "met" })
        {
            table.AddColumn(column);
        }
        foreach (var m in Ordered(results))
        {
            table.AddRow(Markup.Escape(m.Experiment), Markup.Escape(m.Metric), Markup.Escape(Value(m.Value, m.Unit)),
                Markup.Escape(m.Baseline is { } b ? $"{Value(b, m.Unit)} ({m.BaselineName})" : ""),
                m.Ratio is { } r ? r.ToString("F2", Inv) + "×" : "", Markup.Escape(m.Target ?? ""),
                m.Met switch { true => "[green]yes[/]", false => "[red]no[/]", null => "" });
        }
        console.Write(table);
    }

    /// <summary>Writes <c>site-{stamp}.md</c>, <c>site-{stamp}.csv</c> (figures) and <c>site-{stamp}-series.csv</c> (curves); returns the Markdown path.</summary>
    public static string Write(string directory, string stamp, SiteRunSettings run, Results results, IEnumerable<string> context)
    {
        Directory.CreateDirectory(directory);
        var md = new StringBuilder();
        md.Append(Inv, $"# mep-bench site, {stamp}{(run.Quick ? " (QUICK)" : "")}\n\n");
        foreach (var line in context)
        {
            md.Append("- ").Append(line).Append('\n');
        }
        md.Append("\nGoals are the issue's targets, recorded next to each figure; nothing asserts them.\n\n");
        md.Append("| experiment | metric | value | baseline (same run) | ratio | goal | met |\n|---|---|---:|---:|---:|---|---|\n");
        foreach (var m in Ordered(results))
        {
            md.Append(Inv, $"| {m.Experiment} | {m.Metric} | {Value(m.Value, m.Unit)} | ");
            md.Append(m.Baseline is { } b ? $"{Value(b, m.Unit)} ({m.BaselineName})" : "").Append(" | ");
            md.Append(m.Ratio is { } r ? r.ToString("F2", Inv) + "×" : "").Append(" | ").Append(m.Target ?? "").Append(" | ");
            md.Append(m.Met switch { true => "yes", false => "**no**", null => "" }).Append(" |\n");
        }
        if (results.Notes.Count > 0)
        {
            md.Append("\n## How each was measured\n\n");
            foreach (var note in results.Notes)
            {
                md.Append("- ").Append(note).Append('\n');
            }
        }
        if (results.Plots.Count > 0)
        {
            md.Append("\n## Plots\n\n");
            foreach (var plot in results.Plots)
            {
                md.Append(Inv, $"![{plot}]({plot})\n\n");
            }
        }
        var mdPath = Path.Combine(directory, $"site-{stamp}.md");
        File.WriteAllText(mdPath, md.ToString());

        var csv = new StringBuilder("experiment,metric,value,unit,baseline_name,baseline,ratio,goal,met\n");
        foreach (var m in results.Measurements)
        {
            csv.Append(Inv, $"{Csv(m.Experiment)},{Csv(m.Metric)},{m.Value:G6},{Csv(m.Unit)},{Csv(m.BaselineName ?? "")},");
            csv.Append(Inv, $"{m.Baseline:G6},{m.Ratio:G4},{Csv(m.Target ?? "")},{m.Met switch { true => "yes", false => "no", null => "" }}\n");
        }
        File.WriteAllText(Path.Combine(directory, $"site-{stamp}.csv"), csv.ToString());

        var series = new StringBuilder("experiment,series,x_label,y_label,x,y\n");
        foreach (var s in results.Series)
        {
            foreach (var (x, y) in s.Points)
            {
                series.Append(Inv, $"{Csv(s.Experiment)},{Csv(s.Name)},{Csv(s.XLabel)},{Csv(s.YLabel)},{x:G6},{y:G6}\n");
            }
        }
        File.WriteAllText(Path.Combine(directory, $"site-{stamp}-series.csv"), series.ToString());
        return mdPath;
    }

    /// <summary>By experiment number (they run in another order: the warm measurements first, on a quiet site).</summary>
    private static IEnumerable<Measurement> Ordered(Results results) => results.Measurements.OrderBy(m => m.Experiment, StringComparer.Ordinal);

    private static string Value(double value, string unit) => unit switch
    {
        "ms" => value.ToString(value < 10 ? "F2" : "F1", Inv) + " ms",
        "s" => value.ToString("F2", Inv) + " s",
        "MB" => value.ToString("F1", Inv) + " MB",
        "%" => value.ToString("F0", Inv) + " %",
        _ => value.ToString(value < 100 ? "F1" : "N0", Inv) + " " + unit,
    };

    private static string Csv(string s) => s.Contains(',', StringComparison.Ordinal) || s.Contains('"', StringComparison.Ordinal)
        ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : s;
}
