using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Mep.Grains.Telemetry;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Mep.Silo.Metrics;

/// <summary><c>mep_ready{check}</c>: 1 when the last background run of a readiness check (membership, database,
/// broker, launcher) passed, else 0.</summary>
internal sealed class ReadinessGauge : IHealthCheckPublisher
{
    private readonly ConcurrentDictionary<string, long> _last = new(StringComparer.Ordinal);

    public ReadinessGauge() =>
        MepMetrics.Gauge("mep.ready", "{check}", "Whether the last background run of each readiness check passed (1) or not (0)",
            () => _last.Select(kv => new Measurement<long>(kv.Value, new KeyValuePair<string, object?>("check", kv.Key))));

    public Task PublishAsync(HealthReport report, CancellationToken cancellationToken)
    {
        foreach (var (name, entry) in report.Entries)
        {
            _last[name] = entry.Status == HealthStatus.Unhealthy ? 0 : 1;
        }

        return Task.CompletedTask;
    }
}
