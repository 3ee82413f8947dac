using Mep.Grains;
using Mep.Grains.Broker;
using Microsoft.Extensions.Configuration;

namespace Mep.Cli.Doctor;

/// <summary>
/// The silo's settings as the silo would read them: an environment file as systemd's <c>EnvironmentFile=</c> gives it
/// (<c>Mep__Broker__Host=…</c>), this process's <c>Mep__*</c> variables, then <c>--set Mep:Key=Value</c>.
/// </summary>
public sealed class DoctorSettings
{
    private readonly IConfiguration _configuration;

    private DoctorSettings(IConfiguration configuration) => _configuration = configuration;

    public static DoctorSettings Read(string? envFile, IEnumerable<string> sets)
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (envFile is not null)
        {
            foreach (var (key, value) in EnvironmentFile(envFile))
            {
                values[key] = value;
            }
        }

        var overrides = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var set in sets)
        {
            var eq = set.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new UsageException($"--set: expected KEY=VALUE, got '{set}'");
            }

            overrides[set[..eq].Trim()] = set[(eq + 1)..];
        }

        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(values)
            .AddEnvironmentVariables()
            .AddInMemoryCollection(overrides)
            .Build();
        return new DoctorSettings(configuration);
    }

    public IReadOnlyList<string> Endpoints =>
        _configuration.GetSection("Mep:Endpoints").GetChildren().Select(c => c.Value).OfType<string>().ToList();

    public string LauncherSocket => _configuration["Mep:LauncherSocket"] ?? new MepOptions().LauncherSocket;

    public string RunAs => _configuration["Mep:RunAs"] is { } runAs ? runAs : "mep";

    public string DataDirectory => _configuration["Mep:DataDirectory"] ?? "/var/lib/mep";

    public string DatabaseProvider => _configuration["Mep:Database:Provider"] ?? "sqlite";

    public string? ConnectionStringFile => _configuration["Mep:Database:ConnectionStringFile"];

    public BrokerOptions Broker => _configuration.GetSection("Mep:Broker").Get<BrokerOptions>() ?? new BrokerOptions();

    /// <summary>KEY=VALUE lines, '#' comments, optional surrounding quotes; '__' in a key is ':' (as .NET reads variables).</summary>
    private static IEnumerable<(string Key, string Value)> EnvironmentFile(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--env-file {path}: {e.Message}");
        }

        foreach (var raw in lines)
        {
            var line = raw.Trim();
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (line.Length == 0 || line[0] == '#' || eq <= 0)
            {
                continue;
            }

            var value = line[(eq + 1)..].Trim();
            if (value.Length >= 2 && (value[0] == '"' || value[0] == '\'') && value[^1] == value[0])
            {
                value = value[1..^1];
            }

            yield return (line[..eq].Trim().Replace("__", ":", StringComparison.Ordinal), value);
        }
    }
}
