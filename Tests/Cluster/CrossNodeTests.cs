using System.Diagnostics;
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
        output.WriteLine($"submit through {a.Name}, results through {b.Name} and {c.Name}: {clock.Elapsed.TotalSeconds:F1} s");
    }
}
