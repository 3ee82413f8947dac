using Mep.Grains.Endpoints;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Mep.Silo.Health;

/// <summary>
/// The endpoints' admin files as they are now on disk: a file changed into something invalid keeps its previous
/// content in use, so the silo still serves (degraded, 200) but says which file is wrong and why, until it is fixed.
/// </summary>
internal sealed class ConfigurationReadinessCheck(EndpointCatalog catalog) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var errors = catalog.ConfigurationErrors;
        return Task.FromResult(errors.Count == 0
            ? HealthCheckResult.Healthy($"{catalog.All.Count} endpoint(s), every file in use as it is on disk")
            : HealthCheckResult.Degraded($"previous version in use for {errors.Count} file(s): {string.Join("; ", errors)}"));
    }
}
