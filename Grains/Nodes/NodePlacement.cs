using Orleans.Placement;
using Orleans.Runtime;

namespace Mep.Grains.Nodes;

/// <summary>
/// Places a string-keyed grain on the silo whose SiloName is its key: one grain per login node, living where that
/// node's local resources (its launcher socket) are. See <see cref="NodePlacementDirector"/>.
/// </summary>
[GenerateSerializer]
public sealed class NodePlacement : PlacementStrategy
{
    internal static NodePlacement Singleton { get; } = new();

    /// <summary>
    /// For a node grain's activation: the director placed it by name, so a mismatch would mean another node's local
    /// resources are being served from here.
    /// </summary>
    internal static Task CheckActivatedOnItsNode(string key, string siloName, string what) =>
        siloName == key
            ? Task.CompletedTask
            : throw new Mep.Contracts.Model.NodeUnavailableException($"{what} '{key}' activated on silo '{siloName}'");
}

/// <summary>Marks a grain class for <see cref="NodePlacement"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class NodePlacementAttribute : PlacementAttribute
{
    public NodePlacementAttribute()
        : base(NodePlacement.Singleton)
    {
    }
}
