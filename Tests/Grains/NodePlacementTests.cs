using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains;
using Mep.Grains.Endpoints;
using Mep.Grains.Nodes;
using Mep.Silo.Services;
using Mep.Tests.Launcher;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.TestingHost;
using Xunit;

namespace Mep.Tests.Grains;

/// <summary>
/// Two silos, each a login node with its name: a node launcher grain always activates on the silo of its node and
/// drives the real launcher there; once a node's silo is gone, calls to its launcher fail at once instead of being
/// placed on another node.
/// </summary>
public sealed class NodePlacementTests : IAsyncLifetime
{
    private readonly CancellationTokenSource timeout = new(TimeSpan.FromSeconds(180));
    private readonly string user = ThrowawayUsers.UniqueName("mepnp");
    private ScratchLauncher? launcher;
    private InProcessTestCluster? cluster;

    public async Task InitializeAsync()
    {
        await ThrowawayUsers.CreateUserAsync(user);
        launcher = await ScratchLauncher.StartAsync(["--Launcher:UepProgram=/bin/sleep", "--Launcher:UepProgramArguments:0=600"], timeout.Token);
        var builder = new InProcessTestClusterBuilder(2);
        builder.Options.ServiceId = $"mep-nodes-{Guid.NewGuid():N}";
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddMepNodePlacement();
            silo.Services.Configure<MepOptions>(o => o.LauncherSocket = launcher.SocketPath);
            silo.Services.AddSingleton(_ => new EndpointCatalog([], NullLogger.Instance));
            silo.Services.AddMepLauncherServices();
        });
        cluster = builder.Build();
        await cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        if (cluster is not null)
        {
            await cluster.DisposeAsync();
        }

        if (launcher is not null)
        {
            await launcher.DisposeAsync();
        }

        await ThrowawayUsers.DeleteUserAsync(user);
        timeout.Dispose();
    }

    [Fact]
    public async Task A_node_launcher_lives_on_its_nodes_silo_and_fails_fast_when_that_node_is_gone()
    {
        var hosts = await cluster!.Client.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true);
        Assert.Equal(2, hosts.Length);
        foreach (var host in hosts)
        {
            Assert.Equal(host.SiloName, await cluster.Client.GetGrain<INodeLauncherGrain>(host.SiloName).NodeName());
        }

        // Through the node's grain, the node's launcher starts, lists and stops a UEP as the user.
        var node = hosts[1].SiloName;
        var nodeLauncher = cluster.Client.GetGrain<INodeLauncherGrain>(node);
        var uepId = Guid.NewGuid().ToString();
        var started = await nodeLauncher.Start(new NodeLaunchRequest("no-endpoint", uepId, user, "{}", LimitsJson: null, PamService: null));
        Assert.Equal((node, (string?)null), (started.Node, started.Refusal));
        launcher!.Track(started.Pid!.Value);
        await ProcFiles.WaitForCommandAsync(started.Pid.Value, "sleep", timeout.Token);
        Assert.Contains(await nodeLauncher.List("no-endpoint"), u => u.UepId == uepId && u.Pid == started.Pid);

        // A refusal is an answer, not an exception.
        var refused = await nodeLauncher.Start(new NodeLaunchRequest("no-endpoint", Guid.NewGuid().ToString(), "root", "{}", null, null));
        Assert.Null(refused.Pid);
        Assert.Contains("uid 0", refused.Refusal);

        await nodeLauncher.Stop("no-endpoint", uepId, kill: false);
        await Poll(() => !ProcFiles.IsRunning(started.Pid.Value), "the UEP still runs after stop");

        // A node that is not in the cluster, or no longer is: no activation anywhere else.
        var unknown = await Assert.ThrowsAsync<NodeUnavailableException>(() => cluster.Client.GetGrain<INodeLauncherGrain>("no-such-node").NodeName());
        Assert.Contains("login node 'no-such-node' has no active silo", unknown.Message);
        var gone = cluster.Silos.Single(s => s.SiloAddress.Equals(hosts[1].SiloAddress));
        await cluster.StopSiloAsync(gone);
        var failed = await Assert.ThrowsAsync<NodeUnavailableException>(() => cluster.Client.GetGrain<INodeLauncherGrain>(node).NodeName());
        Assert.Contains($"login node '{node}' has no active silo", failed.Message);
        Assert.Equal(hosts[0].SiloName, await cluster.Client.GetGrain<INodeLauncherGrain>(hosts[0].SiloName).NodeName());
    }

    private async Task Poll(Func<bool> condition, string failure) =>
        await Infrastructure.Poll.UntilTrue(() => Task.FromResult(condition()), TimeSpan.FromSeconds(30), () => failure);
}
