using Mep.Grains.Audit;
using Mep.Sdk;
using Mep.Tests.EndToEnd;
using Mep.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Mep.Tests.Grains;

/// <summary>
/// The admin API's audit query on two login nodes, each silo with its own audit log: entries written on both nodes
/// come back merged in time order, each with its node; a node whose log cannot be read is named as not answering
/// while the other's entries still come back; another endpoint's entries never do.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class AdminAuditNodesTests(SiteFixture site) : LifecycleTest(site)
{
    [Fact]
    public async Task The_query_gathers_every_nodes_log_and_names_a_node_that_did_not_answer()
    {
        var lifecycle = Lifecycle = await LifecycleSite.StartAsync(Site,
            new Dictionary<string, string> { ["alice"] = Site.Alice.Name }, extraConfig: "admins: [admin-{suffix}@lifecycle.test]", nodes: 2);
        var silos = lifecycle.Cluster.Silos.ToList();
        var names = silos.Select(s => s.Name).Order(StringComparer.Ordinal).ToList();

        // One entry through each node's own audit writer (the one its grains use), the second node's first in time.
        var now = DateTimeOffset.UtcNow;
        for (var i = 0; i < silos.Count; i++)
        {
            var log = lifecycle.Cluster.GetSiloServiceProvider(silos[i].SiloAddress).GetRequiredService<IAuditLog>();
            await log.WriteAsync(Marker(lifecycle.EndpointId, now.AddSeconds(-10 * i), $"written on {silos[i].Name}"));
            await log.WriteAsync(Marker(Guid.NewGuid().ToString(), now, "another endpoint's"));
        }

        using var admin = lifecycle.Client("admin");
        var both = await admin.QueryAuditAsync(lifecycle.EndpointId, actions: ["describe"]);
        Assert.Equal(names, both.NodesAnswered.Order(StringComparer.Ordinal));
        Assert.Empty(both.NodesFailed);
        Assert.Equal([$"written on {silos[1].Name}", $"written on {silos[0].Name}"], both.Entries.Select(e => (string)e.Entry["reason"]!));
        Assert.Equal([silos[1].Name, silos[0].Name], both.Entries.Select(e => e.Node));

        // The query itself is audited on the node that served it; a non-admin is refused there too.
        using (var alice = lifecycle.Client("alice"))
        {
            Assert.Equal(403, (await Assert.ThrowsAsync<MepApiException>(() => alice.QueryAuditAsync(lifecycle.EndpointId))).Status);
        }

        var audited = await admin.QueryAuditAsync(lifecycle.EndpointId, actions: ["admin-audit"]);
        Assert.Contains(audited.Entries, e => (string?)e.Entry["username"] == lifecycle.Identity("admin") && (int?)e.Entry["status"] == 200);
        Assert.Contains(audited.Entries, e => (string?)e.Entry["username"] == lifecycle.Identity("alice") && (int?)e.Entry["status"] == 403);

        // The second node's log is gone: that node is reported with why, the first node's entries still come back.
        var second = lifecycle.Cluster.GetSiloServiceProvider(silos[1].SiloAddress).GetRequiredService<AuditLogFile>().Path;
        File.Move(second, second + ".moved-away");
        var partial = await admin.QueryAuditAsync(lifecycle.EndpointId, actions: ["describe"]);
        Assert.Equal([silos[0].Name], partial.NodesAnswered);
        var failed = Assert.Single(partial.NodesFailed);
        Assert.Equal(silos[1].Name, failed.Node);
        Assert.Contains("does not exist", failed.Reason, StringComparison.Ordinal);
        Assert.Equal([$"written on {silos[0].Name}"], partial.Entries.Select(e => (string)e.Entry["reason"]!));
    }

    private static AuditEntry Marker(string endpointId, DateTimeOffset time, string reason) =>
        new(time, endpointId, AuditActions.Describe, AuditEntry.Allowed, 200, reason, "id-marker", "marker@lifecycle.test", null);
}
