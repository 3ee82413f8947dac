using Mep.Contracts.Model;
using Orleans.Runtime;
using Orleans.Runtime.Placement;

namespace Mep.Grains.Nodes;

/// <summary>
/// Chooses the active silo named like the grain's key. SiloRoleBasedPlacement cannot do this (it picks any silo of a
/// role at random); and when the node has no active silo the activation fails at once with
/// <see cref="NodeUnavailableException"/> rather than being placed elsewhere, where it would reach the wrong
/// node's launcher.
/// </summary>
public sealed class NodePlacementDirector(IClusterMembershipService membership) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var node = target.GrainIdentity.Key.ToString()!;
        var members = membership.CurrentSnapshot.Members;
        foreach (var silo in context.GetCompatibleSilos(target))
        {
            if (members.TryGetValue(silo, out var member) && member.Status == SiloStatus.Active
                && string.Equals(member.Name, node, StringComparison.Ordinal))
            {
                return Task.FromResult(silo);
            }
        }

        throw new NodeUnavailableException($"login node '{node}' has no active silo") { Node = node };
    }
}
