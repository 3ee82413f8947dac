using System.Diagnostics;
using System.Text.Json.Nodes;
using Mep.Protocol.Api;
using Mep.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.Cluster;

/// <summary>
/// The whole cluster crashes (every node SIGKILLed, UEPs and workers included) while tasks wait in a UEP whose
/// workers are held back by their worker_init; after a restart of every node, nothing is lost: the durable state,
/// the membership table and the reminders bring the UEP back, and each task runs and is recorded once.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterRestartTests(ClusterFixture cluster, ITestOutputHelper output)
{
    [Fact]
    public async Task Tasks_queued_when_every_node_dies_all_complete_once_after_the_cluster_restarts()
    {
        await cluster.StartDownNodesAsync();
        const int user = 1;
        const int count = 12;
        var gate = Path.Combine(cluster.Root, $"gate-{Guid.NewGuid():N}");
        // Workers wait for the gate file: the tasks are queued (or delivered and unacknowledged) but none can run.
        var config = new JsonObject { ["workers"] = 2, ["worker_init"] = $"while [ ! -e {gate} ]; do sleep 0.2; done" };
        using var client = cluster.ClientFor(user, cluster.Nodes[1]);
        var function = await ClusterTasks.RegisterEchoAsync(client);
        var submitted = await ClusterTasks.SubmitNumberedAsync(client, function, 0, count, config);

        // The UEP process runs (held at its gate) on some node before the crash.
        var host = await Poll.Until(async () =>
        {
            foreach (var node in cluster.Nodes)
            {
                var children = await node.LauncherClient().ListAsync(CancellationToken.None);
                if (children.Any(c => c.UepId == submitted.UserEndpointId))
                {
                    return node;
                }
            }

            return null;
        }, TimeSpan.FromMinutes(2), () => $"the UEP {submitted.UserEndpointId} never started\n{cluster.Diagnostics()}");
        var before = await ClusterTasks.StatusAsync(client, submitted.TaskIds);
        Assert.All(before.Values, v => Assert.Equal(ApiTaskStatus.Pending, v.Status));

        var killed = 0;
        foreach (var node in cluster.Nodes)
        {
            killed += await node.KillAsync();
        }

        Assert.All(cluster.Nodes, n => Assert.False(n.IsUp));
        File.WriteAllText(gate, "");
        var clock = Stopwatch.StartNew();
        await cluster.StartDownNodesAsync();
        var started = clock.Elapsed;

        using var after = cluster.ClientFor(user, cluster.Nodes[2]);
        var done = await ClusterTasks.WaitUntilDoneAsync(after, submitted.TaskIds, TimeSpan.FromMinutes(4), cluster.Diagnostics);
        output.WriteLine($"UEP ran on {host.Name}; {killed} processes killed; nodes restarted in {started.TotalSeconds:F1} s; "
            + $"all {count} tasks done {clock.Elapsed.TotalSeconds:F1} s after the restart began");

        for (var n = 0; n < count; n++)
        {
            var view = done[submitted.TaskIds[n]];
            Assert.True(view.Status == ApiTaskStatus.Success, $"task {n}: {view.Status} {view.Result?.Error}");
            Assert.Equal(ClusterTasks.ExpectedOutput(n), view.Result!.Stdout.Trim());
            Assert.Single(view.Transitions, t => t.State == TaskLifecycleState.Success);
        }

        var ended = ClusterTasks.EndedEntries(cluster.Nodes);
        Assert.All(submitted.TaskIds, id => Assert.Equal(1, ended.GetValueOrDefault(id)));
    }
}
