using Mep.Contracts.Model;
using Mep.Grains;
using Mep.Grains.Launching;
using Mep.Tests.EndToEnd;
using Mep.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit;

namespace Mep.Tests.Grains;

/// <summary>
/// Two login nodes, each a silo with its own launcher. The node running a user endpoint loses its silo (killed): once
/// the cluster declares it dead, the UEP's grain (reactivated on the other silo if it lived there) finds its node
/// gone and starts the UEP again on the live node, for the tasks still queued; no one has to submit again.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class NodeFailoverTests(SiteFixture site) : LifecycleTest(site)
{
    [Fact]
    public async Task A_user_endpoint_on_a_node_whose_silo_dies_starts_again_on_a_live_node()
    {
        var lifecycle = Lifecycle = await LifecycleSite.StartAsync(Site, new Dictionary<string, string> { ["alice"] = Site.Alice.Name }, nodes: 2);
        var receipt = await lifecycle.SubmitAsync("alice", tasks: 3);
        var uep = lifecycle.Uep(receipt.UserEndpointId);
        await Poll.UntilTrue(async () => (await uep.GetSnapshot()).Pid is not null, TimeSpan.FromSeconds(60), () => "the UEP never started");

        // Which node runs it: the one whose launcher lists it.
        var launchers = lifecycle.NodeLaunchers.Select(l => new LauncherClient(l.Socket)).ToList();
        async Task<int?> RunningOn(LauncherClient launcher) =>
            (await launcher.ListAsync(CancellationToken.None)).FirstOrDefault(c => c.UepId == receipt.UserEndpointId)?.Pid;
        var first = (await RunningOn(launchers[0])) is not null ? 0 : 1;
        var other = 1 - first;
        Assert.NotNull(await RunningOn(launchers[first]));
        Assert.Null(await RunningOn(launchers[other]));

        // Kill the silo of that node: the one configured with its launcher's socket.
        var silo = lifecycle.Cluster.Silos.Single(s =>
            lifecycle.Cluster.GetSiloServiceProvider(s.SiloAddress).GetRequiredService<IOptions<MepOptions>>().Value.LauncherSocket
                == lifecycle.NodeLaunchers[first].Socket);
        await lifecycle.Cluster.KillSiloAsync(silo);

        var restarted = (await Poll.Until(
            async () => await RunningOn(launchers[other]) is { } pid ? Tuple.Create(pid) : null,
            TimeSpan.FromSeconds(90),
            () => "the user endpoint was not started again on the live node")).Item1;
        var snapshot = await Poll.Until(
            async () => await SnapshotOrNullAsync(uep) is { Pid: { } pid } s && pid == restarted ? s : null,
            TimeSpan.FromSeconds(30),
            () => "the grain does not record the new process");
        Assert.Equal(3, snapshot.PendingTasks);
        Assert.Equal(UserEndpointPhase.Starting, snapshot.Phase);
    }

    /// <summary>A call in flight to the killed silo fails until the cluster has declared it dead: that is no answer yet.</summary>
    private static async Task<UserEndpointSnapshot?> SnapshotOrNullAsync(Mep.Contracts.IUserEndpointGrain uep)
    {
        try
        {
            return await uep.GetSnapshot();
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException or Orleans.Runtime.OrleansException)
        {
            return null;
        }
    }
}
