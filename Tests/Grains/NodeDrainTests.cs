using Mep.Contracts.Model;
using Mep.Grains.Launching;
using Mep.Sdk;
using Mep.Tests.Cli;
using Mep.Tests.EndToEnd;
using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.Grains;

/// <summary>
/// Draining a login node, two nodes each with a real launcher: a site admin drains one, and the next user endpoint
/// starts on the other; with every node drained, tasks wait (durable) saying why, and start once a node returns to
/// service. Only site admins may list or drain nodes; every attempt is audited.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class NodeDrainTests(SiteFixture site) : LifecycleTest(site)
{
    [Fact]
    public async Task A_drained_node_takes_no_new_user_endpoint_and_only_site_admins_may_drain()
    {
        var lifecycle = Lifecycle = await LifecycleSite.StartAsync(Site, new Dictionary<string, string> { ["alice"] = Site.Alice.Name },
            nodes: 2, siteAdmins: ["ops"]);
        using var ops = lifecycle.Client("ops");
        using var alice = lifecycle.Client("alice");

        var nodes = (await ops.ListNodesAsync()).Nodes;
        Assert.Equal(2, nodes.Count);
        Assert.All(nodes, n => Assert.Equal((true, false), (n.Live, n.Drained)));
        var (drained, other) = (nodes[0].Node, nodes[1].Node);

        Assert.Equal(403, (await Assert.ThrowsAsync<MepApiException>(() => alice.ListNodesAsync())).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<MepApiException>(() => alice.SetNodeDrainedAsync(drained, true))).Status);
        Assert.Equal(400, (await Assert.ThrowsAsync<MepApiException>(() => ops.SetNodeDrainedAsync("no such/node", true))).Status);

        var after = await ops.SetNodeDrainedAsync(drained, true);
        Assert.Equal((drained, true, true), (after.Node, after.Live, after.Drained));
        var cli = await CliRunner.RunAsync(lifecycle.CliEnvironment("ops"), "admin", "nodes");
        Assert.True(cli.ExitCode == 0, cli.ToString());
        Assert.Matches($@"{System.Text.RegularExpressions.Regex.Escape(drained)}\s+yes\s+yes", cli.Stdout);

        // The next user endpoint goes to the node in service.
        var first = await lifecycle.SubmitAsync("alice");
        var started = await Poll.Until(async () => await lifecycle.Uep(first.UserEndpointId).GetSnapshot() is { Pid: not null } s ? s : null,
            TimeSpan.FromMinutes(1), () => "the user endpoint never started");
        Assert.Equal(other, started.Node);

        // Every node drained: a new user endpoint's tasks wait, saying why, and start when a node returns.
        await ops.SetNodeDrainedAsync(other, true);
        var second = await lifecycle.SubmitAsync("alice", config: """{"label": "second"}""");
        await Poll.UntilTrue(async () => (await lifecycle.Uep(second.UserEndpointId).GetSnapshot()).Reason?.Contains("drained", StringComparison.Ordinal) == true,
            TimeSpan.FromMinutes(1), () => "the waiting user endpoint does not say that every node is drained");
        Assert.Null((await lifecycle.Uep(second.UserEndpointId).GetSnapshot()).Pid);
        await ops.SetNodeDrainedAsync(drained, false);
        var resumed = await Poll.Until(async () => await lifecycle.Uep(second.UserEndpointId).GetSnapshot() is { Pid: not null } s ? s : null,
            TimeSpan.FromMinutes(2), () => "the user endpoint did not start after the node returned to service");
        Assert.Equal(drained, resumed.Node);

        var audited = lifecycle.AuditEntries()
            .Where(e => e.GetProperty("action").GetString() is "node-drain" or "node-undrain")
            .Select(e => (e.GetProperty("action").GetString(), e.GetProperty("username").GetString(), e.GetProperty("status").GetInt32(), e.GetProperty("node").GetString()))
            .ToList();
        Assert.Equal(
            [
                ("node-drain", lifecycle.Identity("alice"), 403, drained),
                ("node-drain", lifecycle.Identity("ops"), 200, drained),
                ("node-drain", lifecycle.Identity("ops"), 200, other),
                ("node-undrain", lifecycle.Identity("ops"), 200, drained),
            ],
            audited);
    }
}
