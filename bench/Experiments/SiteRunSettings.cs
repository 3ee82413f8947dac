namespace Mep.Bench.Experiments;

/// <summary>The sizes of one run; <see cref="Quick"/> scales everything down to about two minutes.</summary>
internal sealed record SiteRunSettings
{
    public required bool Quick { get; init; }

    public required string ResultsDirectory { get; init; }

    /// <summary>Experiments to run (1..6); all by default.</summary>
    public required IReadOnlySet<int> Experiments { get; init; }

    public int LatencyTasks => Quick ? 200 : 2000;

    /// <summary>
    /// Round trips run and not counted before each latency measurement. On this 2-core machine the first ~1,000 of a
    /// fresh site (the silo's and the client's tiered JIT at work beside everything else) took up to twice as long as
    /// the rest, broker hops included.
    /// </summary>
    public TimeSpan LatencyWarmUp => Quick ? TimeSpan.FromSeconds(2) : TimeSpan.FromSeconds(8);

    /// <summary>Tasks measured with the SDK's default options (no batch window, long polls).</summary>
    public int DefaultSdkLatencyTasks => Quick ? 40 : 400;

    public TimeSpan ThroughputDuration => Quick ? TimeSpan.FromSeconds(5) : TimeSpan.FromSeconds(30);

    public IReadOnlyList<int> ThroughputUeps => Quick ? [1, 4] : [1, 4, 16];

    public IReadOnlyList<int> CreationCounts => Quick ? [1, 2, 4] : [1, 2, 4, 8, 16, 32, 64];

    public int ScalingTasks => Quick ? 8 : 64;

    public double ScalingTaskSeconds => Quick ? 3 : 10;

    public IReadOnlyList<int> ScalingUeps => Quick ? [1, 4, 8] : [1, 2, 4, 8, 16, 32, 64];

    public IReadOnlyList<int> FootprintUeps => Quick ? [10] : [10, 100, 200];

    public int BaselineSamples => Quick ? 5 : 15;
}
