using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains.Endpoints;
using Mep.Grains.UserEndpoints;
using Mep.Protocol;
using Mep.Protocol.Launcher;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Mep.Grains.Nodes;

/// <summary>
/// One login node's launcher, reached through the silo of that node (<see cref="NodePlacement"/>). Stateless: the
/// launcher itself knows what runs. Reentrant, because each call is one request on its own socket connection and the
/// launcher serialises what must be.
/// </summary>
[NodePlacement]
[Reentrant]
public sealed class NodeLauncherGrain(
    IUserEndpointLauncher launcher,
    EndpointCatalog catalog,
    IOptions<MepOptions> options,
    ILocalSiloDetails silo) : Grain, INodeLauncherGrain
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    public override Task OnActivateAsync(CancellationToken cancellationToken) =>
        NodePlacement.CheckActivatedOnItsNode(this.GetPrimaryKeyString(), silo.Name, "node launcher");

    public async Task<NodeLaunchResult> Start(NodeLaunchRequest request)
    {
        using var deadline = new CancellationTokenSource(CallTimeout);
        var limits = request.LimitsJson is { } json ? ProtocolJson.Deserialize<UepResourceLimits>(json) : null;
        try
        {
            var launched = await launcher.StartAsync(Socket(request.EndpointId), request.UepId, request.Username, request.StartDocument,
                limits, request.PamService, deadline.Token);
            return new NodeLaunchResult(launched.Pid, launched.ResourceControl, null, silo.Name);
        }
        catch (LaunchRefusedException e)
        {
            return new NodeLaunchResult(null, null, e.Message, silo.Name);
        }
    }

    public async Task Stop(string endpointId, string uepId, bool kill)
    {
        using var deadline = new CancellationTokenSource(CallTimeout);
        await launcher.StopAsync(Socket(endpointId), uepId, kill, deadline.Token);
    }

    public async Task<IReadOnlyList<NodeUep>> List(string endpointId)
    {
        using var deadline = new CancellationTokenSource(CallTimeout);
        var children = await launcher.ListAsync(Socket(endpointId), deadline.Token);
        return children.Select(c => new NodeUep(c.UepId, c.Username, c.Pid, c.StartedAt)).ToList();
    }

    public Task<string> NodeName() => Task.FromResult(silo.Name);

    private string Socket(string endpointId) => catalog.Find(endpointId)?.LauncherSocket ?? options.Value.LauncherSocket;
}
