using System.Globalization;
using ScottPlot;

namespace Mep.Bench.Experiments;

/// <summary>
/// One PNG per experiment that has curves: every series a line with markers (or bars, for categories) and a legend
/// entry, baselines dashed, axes named with their units, the experiment and the run in the title, so the picture
/// stands without the text.
/// </summary>
internal static class Plots
{
    public static void Write(string directory, string stamp, Results results, bool quick)
    {
        Directory.CreateDirectory(directory);
        foreach (var group in results.Series.GroupBy(s => s.Experiment))
        {
            var plot = new Plot();
            var first = group.First();
            var palette = new ScottPlot.Palettes.Category10();
            var i = 0;
            foreach (var series in group)
            {
                var color = palette.GetColor(i++);
                if (first.Labels is { } labels)
                {
                    AddCategories(plot, series, labels, color);
                }
                else
                {
                    AddLine(plot, series, first.LogX, color);
                }
            }
            if (first.LogX)
            {
                plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
                {
                    LabelFormatter = v => Math.Pow(10, v).ToString("G3", CultureInfo.InvariantCulture),
                    MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
                    IntegerTicksOnly = true,
                };
            }
            plot.Title($"{group.Key}{(quick ? " (QUICK run)" : "")}, {stamp} UTC");
            plot.XLabel(first.XLabel);
            plot.YLabel(first.YLabel);
            plot.ShowLegend(Alignment.UpperLeft);
            plot.Axes.Margins(0.05, 0.15);
            if (!first.LogX)
            {
                // Times, rates and sizes: from zero, so that a ratio can be read off the picture (after the margins,
                // which would autoscale again).
                plot.Axes.AutoScale();
                plot.Axes.SetLimitsY(0, plot.Axes.GetLimits().Top * 1.1);
            }
            var name = $"site-{stamp}-{Slug(group.Key)}.png";
            plot.SavePng(Path.Combine(directory, name), 1000, first.Labels is null ? 600 : 700);
            results.Plots.Add(name);
        }
    }

    private static void AddLine(Plot plot, Series series, bool logX, Color color)
    {
        var xs = series.Points.Select(p => logX ? Math.Log10(Math.Max(p.X, 1e-3)) : p.X).ToArray();
        var line = plot.Add.Scatter(xs, [.. series.Points.Select(p => p.Y)], color);
        line.LegendText = series.Name;
        line.LineWidth = 2;
        line.MarkerSize = series.Points.Count > 100 ? 0 : 7;
        if (series.Baseline)
        {
            line.LinePattern = LinePattern.Dashed;
        }
        if (series.Goal)
        {
            line.LinePattern = LinePattern.Dotted;
            line.MarkerSize = 0;
        }
    }

    /// <summary>Bars at the category positions; a baseline series is a dashed horizontal line at its (first) value.</summary>
    private static void AddCategories(Plot plot, Series series, IReadOnlyList<string> labels, Color color)
    {
        if (series.Baseline)
        {
            var line = plot.Add.HorizontalLine(series.Points[0].Y, 2, color, LinePattern.Dashed);
            line.LegendText = $"{series.Name}: {series.Points[0].Y:F0}";
            return;
        }
        var bars = plot.Add.Bars(series.Points.Select(p => p.X).ToArray(), series.Points.Select(p => p.Y).ToArray());
        bars.Color = color;
        bars.LegendText = series.Name;
        foreach (var bar in bars.Bars)
        {
            bar.Label = bar.Value.ToString("F0", CultureInfo.InvariantCulture);
        }
        bars.ValueLabelStyle.FontSize = 12;
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, labels.Count).Select(x => (double)x)], [.. labels]);
        plot.Axes.Bottom.TickLabelStyle.FontSize = 10;
        plot.Axes.Bottom.MinimumSize = 110;
    }

    private static string Slug(string s) => new([.. s.ToLowerInvariant().Select(c => char.IsLetterOrDigit(c) ? c : '-')]);
}
