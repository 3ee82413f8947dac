using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains.Endpoints;
using Mep.Grains.Launching;
using Mep.Grains.Telemetry;
using Mep.Grains.UserEndpoints;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Mep.Grains.Nodes;

/// <summary>
/// The status page's figures of one login node, gathered on that node (<see cref="NodePlacement"/>): the launcher is
/// asked, as the launcher alone knows what really runs, and the task counts are this silo's.
/// </summary>
[NodePlacement]
[Reentrant]
public sealed class NodeStatusGrain(
    IUserEndpointLauncher launcher,
    EndpointCatalog catalog,
    IOptions<MepOptions> options,
    TaskRates rates,
    ILocalSiloDetails silo) : Grain, INodeStatusGrain
{
    public override Task OnActivateAsync(CancellationToken cancellationToken) =>
        NodePlacement.CheckActivatedOnItsNode(this.GetPrimaryKeyString(), silo.Name, "node status");

    public async Task<NodeReport> Report()
    {
        // Endpoints may name launchers of their own: every distinct socket of this node counts.
        var sockets = catalog.All.Select(e => e.LauncherSocket ?? options.Value.LauncherSocket).Append(options.Value.LauncherSocket)
            .Distinct(StringComparer.Ordinal).ToList();
        int? live = 0;
        string? error = null;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        foreach (var socket in sockets)
        {
            try
            {
                live += (await launcher.ListAsync(socket, deadline.Token)).Count;
            }
            catch (Exception e) when (e is LauncherException or OperationCanceledException)
            {
                (live, error) = (null, $"launcher {socket}: {e.Message}");
                break;
            }
        }

        return new NodeReport(silo.Name, live, error, rates.Snapshot());
    }
}
