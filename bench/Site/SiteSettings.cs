using System.Globalization;

namespace Mep.Bench.Site;

/// <summary>
/// Where the harness finds MEP's programs and where its private site lives. The ports default away from
/// <c>./run.sh</c> (8480/5682/15682, Orleans 11111/30000), <c>./run.sh bench-streams</c> (5692/15692) and the tests
/// (free ports), so the benchmark can run while any of them is up.
/// </summary>
internal sealed record SiteSettings
{
    /// <summary>run.sh's publish directory: <c>silo/</c>, <c>launcher/</c>, <c>endpoint/</c>, <c>mep/</c> below it.</summary>
    public required string BinDirectory { get; init; }

    /// <summary>The checkout (for <c>scripts/rabbitmq-node</c>).</summary>
    public required string RepoDirectory { get; init; }

    /// <summary>The site's state (broker node, data, endpoint, logs); emptied at the start of a run.</summary>
    public required string RuntimeDirectory { get; init; }

    public required string ServiceAccount { get; init; }

    /// <summary>The Unix account the bench identity maps to; created when missing, kept afterwards.</summary>
    public required string BenchUser { get; init; }

    public int ApiPort { get; init; } = 8490;
    public int AmqpPort { get; init; } = 5702;
    public int ManagementPort { get; init; } = 15702;
    public int SiloPort { get; init; } = 11191;
    public int GatewayPort { get; init; } = 30091;

    /// <summary>Extra silo settings as <c>Key=Value</c> under <c>Mep:</c> (e.g. <c>Broker:EventPollInterval=00:00:00.005</c>),
    /// to see what a setting does to the figures; the summary lists them.</summary>
    public IReadOnlyList<string> SiloSettings { get; init; } = [];

    /// <summary>How long the site may take to come up before the run fails.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(180);

    public string ApiUrl => string.Create(CultureInfo.InvariantCulture, $"https://127.0.0.1:{ApiPort}");

    public string LogDirectory => Path.Combine(RuntimeDirectory, "log");

    public void Validate()
    {
        foreach (var (name, dir) in new[] { ("--bin", BinDirectory), ("--repo", RepoDirectory) })
        {
            if (!Directory.Exists(dir))
            {
                throw new ArgumentException($"{name}: directory '{dir}' does not exist");
            }
        }
        foreach (var program in new[] { "silo/mep-silo", "launcher/mep-launcher", "endpoint/mep-endpoint", "mep/mep" })
        {
            if (!File.Exists(Path.Combine(BinDirectory, program)))
            {
                throw new ArgumentException($"--bin: '{program}' is missing under {BinDirectory} (run.sh publishes it)");
            }
        }
        var ports = new[] { ApiPort, AmqpPort, ManagementPort, SiloPort, GatewayPort };
        if (ports.Any(p => p is <= 0 or > 65535) || ports.Distinct().Count() != ports.Length)
        {
            throw new ArgumentException($"ports must be distinct and in 1..65535: {string.Join(", ", ports)}");
        }
        if (SiloSettings.FirstOrDefault(s => s.IndexOf('=', StringComparison.Ordinal) <= 0) is { } bad)
        {
            throw new ArgumentException($"--silo-setting '{bad}' is not Key=Value");
        }
        if (string.IsNullOrWhiteSpace(RuntimeDirectory) || !Path.IsPathRooted(RuntimeDirectory))
        {
            throw new ArgumentException($"--runtime must be an absolute path (got '{RuntimeDirectory}')");
        }
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root")
        {
            throw new ArgumentException("the site harness starts a root launcher and creates a Unix user: run it as root on Linux");
        }
    }
}
