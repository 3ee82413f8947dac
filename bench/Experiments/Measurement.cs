namespace Mep.Bench.Experiments;

/// <summary>
/// One reported figure with the baseline it is compared to (measured in the same run) and the goal for it.
/// <see cref="Met"/> records whether the goal was reached; nothing asserts it.
/// </summary>
internal sealed record Measurement(
    string Experiment,
    string Metric,
    double Value,
    string Unit,
    string? BaselineName = null,
    double? Baseline = null,
    string? Target = null,
    bool? Met = null)
{
    /// <summary>Value over baseline (how many times the baseline; for rates, the share of it).</summary>
    public double? Ratio => Baseline is > 0 ? Value / Baseline : null;
}

/// <summary>A curve for a plot and the CSV: x and y of one named line of one experiment.</summary>
internal sealed record Series(string Experiment, string Name, string XLabel, string YLabel, IReadOnlyList<(double X, double Y)> Points)
{
    /// <summary>Drawn dashed: what the curve is compared to.</summary>
    public bool Baseline { get; init; }

    /// <summary>Drawn dotted: the goal for the curve.</summary>
    public bool Goal { get; init; }

    /// <summary>The x axis in decades (latency distributions span three of them).</summary>
    public bool LogX { get; init; }

    /// <summary>Categories instead of numbers on the x axis: drawn as bars, x = index into these.</summary>
    public IReadOnlyList<string>? Labels { get; init; }
}

/// <summary>What the experiments produced, in the order they ran.</summary>
internal sealed class Results
{
    public List<Measurement> Measurements { get; } = [];

    public List<Series> Series { get; } = [];

    /// <summary>Files made besides the summary (plots), relative to the results directory.</summary>
    public List<string> Plots { get; } = [];

    public List<string> Notes { get; } = [];

    public void Add(Measurement m) => Measurements.Add(m);
}
