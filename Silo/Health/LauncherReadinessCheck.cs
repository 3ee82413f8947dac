using Mep.Grains;
using Mep.Grains.Endpoints;
using Mep.Grains.Launching;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Mep.Silo.Health;

/// <summary>Every launcher this silo's endpoints use answers a list request over its socket: without it no UEP can
/// start on this node.</summary>
internal sealed class LauncherReadinessCheck(EndpointCatalog catalog, IOptions<MepOptions> options) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var sockets = catalog.All.Select(e => e.LauncherSocket ?? options.Value.LauncherSocket)
            .Append(options.Value.LauncherSocket)
            .Distinct(StringComparer.Ordinal)
            .ToList();
        using var deadline = HealthEndpoints.Deadline(cancellationToken);
        var failures = new List<string>();
        var running = 0;
        foreach (var socket in sockets)
        {
            try
            {
                running += (await new LauncherClient(socket).ListAsync(deadline.Token)).Count;
            }
            catch (Exception e) when (e is LauncherException or OperationCanceledException or IOException or System.Net.Sockets.SocketException)
            {
                failures.Add($"{socket}: {DatabaseReadinessCheck.Message(e, cancellationToken)}");
            }
        }

        return failures.Count == 0
            ? HealthCheckResult.Healthy($"launcher answers ({running} user endpoint process(es) running)")
            : HealthCheckResult.Unhealthy($"launcher unreachable: {string.Join("; ", failures)}");
    }
}
