using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains.Nodes;
using Orleans.Concurrency;

namespace Mep.Grains.Audit;

/// <summary>
/// One login node's audit log, read on that node (<see cref="NodePlacement"/>): each silo writes its own file, so a
/// cluster-wide query asks every node's grain. Stateless and reentrant: queries only read.
/// </summary>
[NodePlacement]
[Reentrant]
/// <remarks>Takes the node's writer, not just its settings: the writer creates the file when first needed, so a node
/// that has audited nothing yet has an empty log to read rather than none.</remarks>
public sealed class NodeAuditGrain(AuditLogFile log, ILocalSiloDetails silo) : Grain, INodeAuditGrain
{
    public override Task OnActivateAsync(CancellationToken cancellationToken) =>
        NodePlacement.CheckActivatedOnItsNode(this.GetPrimaryKeyString(), silo.Name, "node audit log");

    public async Task<NodeAuditAnswer> Query(AuditQuery query)
    {
        // File reading blocks: off the grain's scheduler, which other grains of this silo share.
        var path = log.Path;
        try
        {
            var read = await Task.Run(() => AuditLogReader.Read(path, query));
            return new NodeAuditAnswer(silo.Name, read.Matches.Select(m => m.Line).ToList(), read.Truncated, read.Skipped);
        }
        catch (AuditLogUnreadableException e)
        {
            // A plain exception crosses the cluster with its message; this one names the node's file.
            throw new InvalidOperationException($"audit log {e.Message}");
        }
    }
}
