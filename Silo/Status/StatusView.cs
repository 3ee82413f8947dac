using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains;
using Mep.Grains.Endpoints;
using Microsoft.Extensions.Options;

namespace Mep.Silo.Status;

/// <summary>What the status page shows (and <c>GET /status/data</c> returns): the nodes, each with the UEP processes
/// its launcher runs, and the endpoints the caller administers with their task rates.</summary>
/// <param name="LiveUserEndpoints">The sum over the nodes that answered.</param>
public sealed record StatusView(
    string Caller,
    bool SiteAdmin,
    DateTimeOffset GeneratedAt,
    DateTimeOffset SessionExpires,
    int LiveUserEndpoints,
    IReadOnlyList<StatusNodeView> Nodes,
    IReadOnlyList<StatusEndpointView> Endpoints,
    bool Dashboard);

/// <param name="LiveUserEndpoints">Null when the node (or its launcher) did not answer; <paramref name="Error"/> says why.</param>
public sealed record StatusNodeView(string Node, bool Drained, int? LiveUserEndpoints, string? Error);

/// <summary>Tasks per minute, summed over the nodes that answered: over the last minute, and over the last five.</summary>
public sealed record StatusEndpointView(
    string EndpointId,
    string DisplayName,
    double SubmittedPerMinute,
    double SubmittedPerMinute5,
    double SucceededPerMinute5,
    double FailedPerMinute5);

/// <summary>Gathers a <see cref="StatusView"/>: every live node is asked (5 s each), endpoints are filtered by the
/// caller's admin rights as they are now (a reloaded config.yaml applies to the next refresh).</summary>
internal sealed class StatusBuilder(
    IGrainFactory grains,
    IClusterMembershipService membership,
    EndpointCatalog catalog,
    IOptions<MepOptions> options,
    TimeProvider time,
    ILogger<StatusBuilder> logger)
{
    private static readonly TimeSpan NodeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The endpoints <paramref name="caller"/> may see: all for a site admin, else those it administers.</summary>
    public IReadOnlyList<EndpointDefinition> Visible(CallerIdentity caller)
    {
        var now = time.GetUtcNow();
        var siteAdmin = options.Value.IsSiteAdmin(caller);
        return catalog.All.Where(e => siteAdmin || e.Policy.IsAdmin(caller, now)).OrderBy(e => e.EndpointId, StringComparer.Ordinal).ToList();
    }

    public async Task<StatusView> BuildAsync(CallerIdentity caller, DateTimeOffset sessionExpires, bool dashboard)
    {
        var nodes = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active && !string.IsNullOrEmpty(m.Name))
            .Select(m => m.Name).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var drained = await grains.GetGrain<ISiteGrain>(ISiteGrain.Key).GetDrainedNodes();
        var reports = await Task.WhenAll(nodes.Select(AskAsync));
        var endpoints = Visible(caller).Select(e =>
        {
            var counts = reports.SelectMany(r => r.Report?.Tasks ?? []).Where(t => t.EndpointId == e.EndpointId).ToList();
            return new StatusEndpointView(e.EndpointId, e.DisplayName,
                counts.Sum(c => c.SubmittedLastMinute), counts.Sum(c => c.SubmittedLast5Minutes) / 5.0,
                counts.Sum(c => c.SucceededLast5Minutes) / 5.0, counts.Sum(c => c.FailedLast5Minutes) / 5.0);
        }).ToList();
        var nodeViews = nodes.Zip(reports, (n, r) => new StatusNodeView(n, drained.Contains(n), r.Report?.LiveUserEndpoints,
            r.Error ?? r.Report?.LauncherError)).ToList();
        return new StatusView(caller.Username, options.Value.IsSiteAdmin(caller), time.GetUtcNow(), sessionExpires,
            nodeViews.Sum(n => n.LiveUserEndpoints ?? 0), nodeViews, endpoints, dashboard);
    }

    private async Task<(NodeReport? Report, string? Error)> AskAsync(string node)
    {
        try
        {
            return (await grains.GetGrain<INodeStatusGrain>(node).Report().WaitAsync(NodeTimeout), null);
        }
        catch (Exception e)
        {
            logger.LogDebug("Node {Node} did not report its status: {Message}", node, e.Message);
            return (null, e is TimeoutException ? $"no answer within {NodeTimeout.TotalSeconds:0} s" : e.Message);
        }
    }
}
