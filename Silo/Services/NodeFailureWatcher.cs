using Mep.Contracts;
using Mep.Grains.Endpoints;

namespace Mep.Silo.Services;

/// <summary>
/// Watches the cluster's membership and, when a silo is declared dead, has every endpoint reconcile its active user
/// endpoints: those whose process ran on the dead node find their node gone and start again on a live one, so their
/// queued and unacknowledged tasks do not wait for someone to submit again. Every live silo does this; a second
/// reconcile of the same UEP finds it already handled.
/// </summary>
public sealed class NodeFailureWatcher(
    IClusterMembershipService membership,
    EndpointCatalog catalog,
    IGrainFactory grains,
    ILogger<NodeFailureWatcher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var dead = new HashSet<SiloAddress>();
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stoppingToken))
            {
                var newlyDead = snapshot.Members.Values
                    .Where(m => m.Status == SiloStatus.Dead && dead.Add(m.SiloAddress))
                    .ToList();
                foreach (var member in newlyDead)
                {
                    logger.LogWarning("Node {Node} ({Silo}) was declared dead; reconciling the user endpoints that ran there",
                        member.Name, member.SiloAddress);
                }

                if (newlyDead.Count > 0)
                {
                    await ReconcileAllAsync();
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The silo is stopping.
        }
    }

    private async Task ReconcileAllAsync()
    {
        foreach (var endpoint in catalog.All)
        {
            try
            {
                await grains.GetGrain<IEndpointGrain>(endpoint.EndpointId).Reconcile();
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Reconciling endpoint {EndpointId} after a node loss failed", endpoint.EndpointId);
            }
        }
    }
}
