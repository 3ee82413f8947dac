using Mep.Contracts;
using Mep.Contracts.Model;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace Mep.Grains.Nodes;

/// <summary>
/// Where a user endpoint's process runs: the node it ran on before while that node lives and is not drained (its
/// files, its workers' state and a user's expectations stay put), else the live, undrained node whose launcher runs
/// the fewest UEPs. A drained node takes no new process; those it runs finish there.
/// </summary>
public sealed class NodeChooser(IClusterMembershipService membership, IGrainFactory grains, ILogger<NodeChooser> logger)
{
    /// <summary>The names of the nodes with an active silo, in a stable order.</summary>
    public IReadOnlyList<string> LiveNodes() =>
        membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active && !string.IsNullOrEmpty(m.Name))
            .Select(m => m.Name)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();

    public bool IsLive(string node) => LiveNodes().Contains(node, StringComparer.Ordinal);

    /// <exception cref="NodeUnavailableException">No node is live, or every live node is drained.</exception>
    public async Task<string> ChooseAsync(string endpointId, string? previous)
    {
        var drained = await grains.GetGrain<ISiteGrain>(ISiteGrain.Key).GetDrainedNodes();
        var up = LiveNodes();
        var live = up.Where(n => !drained.Contains(n)).ToList();
        if (up.Count > 0 && live.Count == 0)
        {
            throw new NodeUnavailableException($"every live login node is drained ({string.Join(", ", up)})");
        }

        if (previous is not null && live.Contains(previous, StringComparer.Ordinal))
        {
            return previous;
        }

        if (live.Count == 0)
        {
            throw new NodeUnavailableException("no login node has an active silo");
        }

        if (live.Count == 1)
        {
            return live[0];
        }

        // One list call per node: a site has a handful of login nodes, and a start is rare next to its tasks.
        var loads = await Task.WhenAll(live.Select(async node =>
        {
            try
            {
                return (Node: node, Load: (await grains.GetGrain<INodeLauncherGrain>(node).List(endpointId)).Count);
            }
            catch (Exception e)
            {
                logger.LogWarning("Node {Node} did not say its load ({Message}); not choosing it", node, e.Message);
                return (Node: node, Load: int.MaxValue);
            }
        }));
        var best = loads.MinBy(l => l.Load);
        return best.Load == int.MaxValue ? throw new NodeUnavailableException("no login node's launcher answered") : best.Node;
    }
}
