using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains.Audit;
using Microsoft.Extensions.Logging;

namespace Mep.Grains.Endpoint;

/// <summary>The audit query of the admin API: every node's log, since each silo writes its own.</summary>
public sealed partial class EndpointGrain
{
    /// <summary>How long one node may take to read its log; a slower one is reported as not answering.</summary>
    private static readonly TimeSpan NodeAuditTimeout = TimeSpan.FromSeconds(20);

    public Task<AuditQueryResult> QueryAudit(CallerIdentity caller, AuditQuery query) =>
        Audited(AuditActions.AdminAudit, caller, async facts =>
        {
            RequireAdmin(Endpoint(), caller);

            // Never another endpoint's entries, whatever the caller asked: its admins are not this endpoint's.
            var mine = query with { EndpointId = EndpointId };
            var members = membership.CurrentSnapshot.Members.Values.Where(m => !string.IsNullOrEmpty(m.Name)).ToList();
            var live = members.Where(m => m.Status == SiloStatus.Active).Select(m => m.Name).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            var answers = await Task.WhenAll(live.Select(node => AskNodeAsync(node, mine)));

            // Nodes the cluster knows but that have no active silo: their logs exist but cannot be read now.
            var failed = answers.Where(a => a.Failure is not null).Select(a => a.Failure!)
                .Concat(members.Select(m => m.Name).Distinct(StringComparer.Ordinal).Except(live, StringComparer.Ordinal)
                    .Order(StringComparer.Ordinal)
                    .Select(n => new NodeAuditFailure(n, "no active silo on this node (its audit log is kept there)")))
                .ToList();
            var answered = answers.Where(a => a.Answer is not null).Select(a => a.Answer!).ToList();
            var merged = answered
                .SelectMany(a => a.Lines.Select(line => (a.Node, Line: line, Time: AuditJson.Parse(line) is { } e ? AuditJson.TimeOf(e)!.Value : DateTimeOffset.MinValue)))
                .OrderBy(e => e.Time)
                .ToList();
            var limit = query.Limit ?? int.MaxValue;
            var truncated = answered.Any(a => a.Truncated) || merged.Count > limit;
            IReadOnlyList<NodeAuditLine> newest = merged.Skip(Math.Max(0, merged.Count - limit)).Select(e => new NodeAuditLine(e.Node, e.Line)).ToList();
            return new AuditQueryResult(newest, answered.Select(a => a.Node).ToList(), failed, truncated);
        });

    private async Task<(NodeAuditAnswer? Answer, NodeAuditFailure? Failure)> AskNodeAsync(string node, AuditQuery query)
    {
        try
        {
            return (await GrainFactory.GetGrain<INodeAuditGrain>(node).Query(query).WaitAsync(NodeAuditTimeout), null);
        }
        catch (Exception e)
        {
            logger.LogWarning("The audit log of node {Node} could not be read for endpoint {EndpointId}: {Message}", node, EndpointId, e.Message);
            return (null, new NodeAuditFailure(node, e is TimeoutException ? $"no answer within {NodeAuditTimeout.TotalSeconds:0} s" : e.Message));
        }
    }
}
