using Mep.Contracts.Model;

namespace Mep.Contracts;

/// <summary>
/// One login node's audit log, keyed by the node's name and always activated on that node's silo (the log is a file
/// there). Internal to the cluster: only the endpoint grain calls it, for its admins and with its own endpoint id as
/// a filter. Calls fail fast (<see cref="NodeUnavailableException"/>) when the node has no live silo.
/// </summary>
[Alias("mep.node-audit")]
public interface INodeAuditGrain : IGrainWithStringKey
{
    /// <summary>The entries of this node's audit log (its rotated files included) that match <paramref name="query"/>.</summary>
    [Alias("query")]
    Task<NodeAuditAnswer> Query(AuditQuery query);
}
