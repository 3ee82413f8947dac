using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains.Audit;
using Microsoft.Extensions.Options;

namespace Mep.Grains.Nodes;

[GenerateSerializer, Alias("mep.site-state")]
public sealed class SiteState
{
    /// <summary>Node names, as silos are named (Mep:Cluster:NodeName).</summary>
    [Id(0)]
    public HashSet<string> DrainedNodes { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>The drained nodes, durable: a drain survives restarts of the node and of the whole cluster.</summary>
public sealed class SiteGrain(
    [PersistentState("site", StorageNames.Mep)] IPersistentState<SiteState> state,
    IClusterMembershipService membership,
    IOptions<MepOptions> options,
    IAuditLog audit) : Grain, ISiteGrain
{
    public Task<IReadOnlySet<string>> GetDrainedNodes() =>
        Task.FromResult<IReadOnlySet<string>>(new HashSet<string>(state.State.DrainedNodes, StringComparer.Ordinal));

    public async Task<IReadOnlyList<NodeStatus>> ListNodes(CallerIdentity caller)
    {
        await RequireSiteAdminAsync(caller, "node-list", null);
        var live = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active && !string.IsNullOrEmpty(m.Name))
            .Select(m => m.Name)
            .ToHashSet(StringComparer.Ordinal);
        return live.Union(state.State.DrainedNodes)
            .Order(StringComparer.Ordinal)
            .Select(n => new NodeStatus(n, live.Contains(n), state.State.DrainedNodes.Contains(n)))
            .ToList();
    }

    public async Task<NodeStatus> SetDrained(CallerIdentity caller, string node, bool drained)
    {
        var action = drained ? "node-drain" : "node-undrain";
        await RequireSiteAdminAsync(caller, action, node);
        var changed = drained ? state.State.DrainedNodes.Add(node) : state.State.DrainedNodes.Remove(node);
        if (changed)
        {
            await state.WriteStateAsync();
        }

        await audit.WriteAsync(Entry(caller, action, AuditEntry.Allowed, 200, changed ? null : "no change") with { Node = node });
        var live = membership.CurrentSnapshot.Members.Values.Any(m => m.Status == SiloStatus.Active && m.Name == node);
        return new NodeStatus(node, live, drained);
    }

    private async Task RequireSiteAdminAsync(CallerIdentity caller, string action, string? node)
    {
        if (options.Value.IsSiteAdmin(caller))
        {
            return;
        }

        var refusal = $"{caller.Username} is not a site admin (Mep:SiteAdmins)";
        await audit.WriteAsync(Entry(caller, action, AuditEntry.Refused, 403, refusal) with { Node = node });
        throw ProblemException.Forbidden(refusal);
    }

    private static AuditEntry Entry(CallerIdentity caller, string action, string decision, int status, string? reason) => new(
        DateTimeOffset.UtcNow, "", action, decision, status, reason, caller.IdentityId, caller.Username,
        caller.IdentitySet().Select(i => i.Username).ToList());
}
