using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Mep.Silo.Health;

/// <summary>Ready once this silo is an active member: before that (joining) or after (shutting down, declared dead) grain
/// calls through it fail.</summary>
internal sealed class MembershipReadinessCheck(IClusterMembershipService membership, ILocalSiloDetails silo) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var snapshot = membership.CurrentSnapshot;
        var status = snapshot.GetSiloStatus(silo.SiloAddress);
        var active = snapshot.Members.Values.Count(m => m.Status == SiloStatus.Active);
        return Task.FromResult(status == SiloStatus.Active
            ? HealthCheckResult.Healthy($"node {silo.Name} active; {active} active silo(s) in the cluster")
            : HealthCheckResult.Unhealthy($"node {silo.Name} is {status}, not an active member of the cluster"));
    }
}
