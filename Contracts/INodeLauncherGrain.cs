using Mep.Contracts.Model;

namespace Mep.Contracts;

/// <summary>
/// The launcher of one login node, keyed by the node's name (its silo's SiloName): always activated on that node's
/// silo, which alone can reach the node's launcher socket. Calls fail fast (<see cref="NodeUnavailableException"/>)
/// when the node has no live silo, instead of activating the grain somewhere its launcher is not.
/// </summary>
[Alias("mep.node-launcher")]
public interface INodeLauncherGrain : IGrainWithStringKey
{
    /// <summary>Starts a UEP process on this node; a refusal by the launcher is an answer, not an exception.</summary>
    [Alias("start")]
    Task<NodeLaunchResult> Start(NodeLaunchRequest request);

    /// <summary>Signals a UEP process on this node (SIGTERM, or SIGKILL when <paramref name="kill"/>).</summary>
    [Alias("stop")]
    Task Stop(string endpointId, string uepId, bool kill);

    /// <summary>The UEP processes running on this node, as its launcher reports them.</summary>
    [Alias("list")]
    Task<IReadOnlyList<NodeUep>> List(string endpointId);

    /// <summary>Which silo serves this node: its name, for checks and diagnostics.</summary>
    [Alias("node-name")]
    Task<string> NodeName();
}
