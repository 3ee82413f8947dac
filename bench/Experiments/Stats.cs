namespace Mep.Bench.Experiments;

internal static class Stats
{
    /// <summary>The q-quantile (0..1) by nearest rank of a non-empty sample.</summary>
    public static double Quantile(IReadOnlyList<double> values, double q)
    {
        if (values.Count == 0)
        {
            throw new InvalidOperationException("no samples");
        }
        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(q * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public static double Median(IReadOnlyList<double> values) => Quantile(values, 0.5);
}
