using System.Diagnostics;
using System.Text.Json.Nodes;
using Mep.Protocol.Api;
using Mep.Tests.EndToEnd;
using Xunit;
using Xunit.Abstractions;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.Cluster;

/// <summary>Every silo serves the whole REST API: what one login node accepted, any other answers for.</summary>
[Collection(ClusterCollection.Name)]
public sealed class CrossNodeTests(ClusterFixture cluster, ITestOutputHelper output)
{
    [Fact]
    public async Task Tasks_submitted_through_one_node_are_read_with_their_results_through_the_others()
    {
        await cluster.StartDownNodesAsync();
        var clock = Stopwatch.StartNew();
        var since = DateTimeOffset.UtcNow.AddSeconds(-1);
        var (a, b, c) = (cluster.Nodes[0], cluster.Nodes[1], cluster.Nodes[2]);
        using var viaA = cluster.ClientFor(0, a);
        using var viaB = cluster.ClientFor(0, b);
        using var viaC = cluster.ClientFor(0, c);

        var function = await ClusterTasks.RegisterEchoAsync(viaA, "id -un; ");
        var submitted = await ClusterTasks.SubmitNumberedAsync(viaA, function, 0, 5);

        var done = await ClusterTasks.WaitUntilDoneAsync(viaB, submitted.TaskIds, TimeSpan.FromMinutes(3), cluster.Diagnostics);
        var user = cluster.Users[0].Name;
        for (var n = 0; n < submitted.TaskIds.Count; n++)
        {
            var view = done[submitted.TaskIds[n]];
            Assert.Equal(ApiTaskStatus.Success, view.Status);
            Assert.Equal($"{user}\n{ClusterTasks.ExpectedOutput(n)}", view.Result!.Stdout.Trim());
            Assert.Equal(user, view.Result.Username);

            // Node C reads the same stored result, and knows the function that node A registered.
            var fromC = await SiteApi.GetAsync<TaskView>(viaC, $"v1/tasks/{submitted.TaskIds[n]}");
            Assert.Equal((view.Status, view.CompletedAt, view.Result.Stdout), (fromC.Status, fromC.CompletedAt, fromC.Result!.Stdout));
            Assert.Equal(function, fromC.FunctionId);
        }

        // The user endpoint is one grain, whichever node is asked about it.
        var views = await Task.WhenAll(new[] { viaA, viaB, viaC }.Select(http => SiteApi.GetAsync<EndpointView>(http, $"v1/endpoints/{ClusterFixture.EndpointId}")));
        Assert.All(views, v => Assert.Contains(v.UserEndpoints, u => u.UserEndpointId == submitted.UserEndpointId));

        // Another user cannot read them through any node.
        using var stranger = cluster.ClientFor(1, c);
        var hidden = await stranger.GetAsync($"v1/tasks/{submitted.TaskIds[0]}");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, hidden.StatusCode);

        // The audit log through node C, for the endpoint's admin: every node's file read, each entry of this run with the
        // node that holds it, exactly what the three files hold (wherever the endpoint's and the UEP's grains ran).
        using var admin = new Mep.Sdk.MepClient(c.ApiBase, cluster.Tokens.Issue(cluster.AdminIdentity), cluster.Tls.Handler());
        var audit = await admin.QueryAuditAsync(ClusterFixture.EndpointId, user: user, since: since);
        Assert.True(audit.NodesFailed.Count == 0, string.Join("; ", audit.NodesFailed.Select(f => $"{f.Node}: {f.Reason}")));
        Assert.Equal(cluster.Nodes.Select(n => n.Name).Order(StringComparer.Ordinal), audit.NodesAnswered.Order(StringComparer.Ordinal));
        var inFiles = cluster.Nodes
            .SelectMany(n => File.ReadAllLines(n.AuditLog).Select(l => (n.Name, Entry: JsonNode.Parse(l)!.AsObject())))
            .Where(e => (string?)e.Entry["endpoint_id"] == ClusterFixture.EndpointId && DateTimeOffset.Parse((string)e.Entry["time"]!) >= since
                && ((string?)e.Entry["local_user"] == user || (string?)e.Entry["username"] == user))
            .Select(e => $"{e.Name} {e.Entry.ToJsonString()}")
            .Order(StringComparer.Ordinal);
        Assert.Equal(inFiles, audit.Entries.Select(e => $"{e.Node} {e.Entry.ToJsonString()}").Order(StringComparer.Ordinal));
        Assert.Equal(5, audit.Entries.Count(e => (string?)e.Entry["action"] == "task-ended"));
        output.WriteLine($"audit entries of the run on {string.Join(", ", audit.Entries.Select(e => e.Node).Distinct())}");
        output.WriteLine($"submit through {a.Name}, results through {b.Name} and {c.Name}: {clock.Elapsed.TotalSeconds:F1} s");
    }
}
