using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Hosting;

namespace Mep.Grains.Nodes;

public static class NodeHostingExtensions
{
    /// <summary>
    /// Names this silo after its login node and registers <see cref="NodePlacement"/>: every silo of a MEP cluster
    /// runs on its own node, next to that node's launcher.
    /// </summary>
    public static ISiloBuilder AddMepNodes(this ISiloBuilder silo, string nodeName)
    {
        silo.Configure<SiloOptions>(o => o.SiloName = nodeName);
        return silo.AddMepNodePlacement();
    }

    /// <summary>Only the placement, for hosts (tests) that name their silos themselves.</summary>
    public static ISiloBuilder AddMepNodePlacement(this ISiloBuilder silo)
    {
        silo.AddPlacementDirector<NodePlacement, NodePlacementDirector>();
        silo.Services.AddSingleton<NodeChooser>();
        return silo;
    }
}
