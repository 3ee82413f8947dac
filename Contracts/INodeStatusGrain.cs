using Mep.Contracts.Model;

namespace Mep.Contracts;

/// <summary>
/// One login node's live figures for the status page, keyed by the node's name and activated on that node's silo:
/// its launcher's UEP processes and the task counts of its grains. Counts only, no user's data.
/// </summary>
[Alias("mep.node-status-grain")]
public interface INodeStatusGrain : IGrainWithStringKey
{
    [Alias("report")]
    Task<NodeReport> Report();
}
