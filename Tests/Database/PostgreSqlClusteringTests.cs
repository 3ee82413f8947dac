using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Mep.Database.PostgreSql;
using Mep.Silo.Database;
using Mep.Tests.Infrastructure;
using Mep.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Orleans.Configuration;
using Xunit;

namespace Mep.Tests.Database;

/// <summary>
/// Two silos on Orleans' ADO.NET clustering with our membership queries on a real PostgreSQL: one in this process (so
/// the test can look at its membership view), one a process of its own (Tests/ClusterNode). They find each other
/// through the table, and the process, killed with SIGKILL, is voted dead by the other.
/// </summary>
[Collection(StorageCollection.Name)]
public sealed class PostgreSqlClusteringTests : IAsyncLifetime
{
    private const int Active = 3;
    private const int Dead = 6;
    private readonly string clusterId = "mep-pg-" + Guid.NewGuid().ToString("N")[..8];
    private readonly List<IHost> hosts = [];
    private readonly List<Process> processes = [];
    private TestDatabase db = null!;
    private NpgsqlDataSource runtime = null!;

    public async Task InitializeAsync()
    {
        db = await PostgresServer.CreateDatabaseAsync();
        await using (var owner = db.OwnerDataSource())
        {
            await PostgreSqlSchema.MigrateAsync(owner, [db.RuntimeRole]);
        }
        runtime = db.RuntimeDataSource();
    }

    public async Task DisposeAsync()
    {
        foreach (var process in processes)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
            process.Dispose();
        }
        foreach (var host in hosts)
        {
            await host.StopAsync(new CancellationToken(canceled: true));
            host.Dispose();
        }
        await runtime.DisposeAsync();
        await db.DisposeAsync();
    }

    private async Task<IHost> StartSiloAsync(string name)
    {
        var (siloPort, gatewayPort) = (FreePort(), FreePort());
        var host = Host.CreateDefaultBuilder()
            .ConfigureLogging(l => l.ClearProviders())
            .UseOrleans(silo =>
            {
                silo.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (clusterId, "mep-pg-test"));
                silo.Configure<SiloOptions>(o => o.SiloName = name);
                silo.ConfigureEndpoints(IPAddress.Loopback, siloPort, gatewayPort, listenOnAnyHostAddress: false);
                silo.UseMepPostgreSqlClustering(runtime);
                // Short probes, so a dead silo is found in seconds rather than the default half minute.
                silo.Configure<ClusterMembershipOptions>(o =>
                {
                    o.ProbeTimeout = TimeSpan.FromSeconds(1);
                    o.NumMissedProbesLimit = 2;
                    o.NumVotesForDeathDeclaration = 1;
                    o.TableRefreshTimeout = TimeSpan.FromSeconds(1);
                    o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(2);
                });
            })
            .Build();
        await host.StartAsync();
        hosts.Add(host);
        return host;
    }

    [Fact]
    public async Task TwoSilos_JoinThroughTheTable_AndASigkilledOneIsDeclaredDead()
    {
        var a = await StartSiloAsync("node-a");
        var b = await StartNodeProcessAsync("node-b");

        await Poll.UntilTrue(async () => await Count($"status = {Active}") == 2, TimeSpan.FromSeconds(60),
            () => "both silos active in mep_cluster_member");
        Assert.Equal("node-a,node-b", await db.ScalarAsync(
            $"SELECT string_agg(silo_name, ',' ORDER BY silo_name) FROM mep_cluster_member WHERE deployment_id = '{clusterId}'"));
        // Each silo sees the other as active through the membership it read from the table.
        await Poll.UntilTrue(() => Task.FromResult(ActiveSilos(a) == 2), TimeSpan.FromSeconds(60),
            () => $"a's membership view: {ActiveSilos(a)} active");

        // SIGKILL: b says no goodbye, its row stays Active, and only a's probes and vote can mark it dead.
        b.Kill();
        await b.WaitForExitAsync();
        Assert.Equal(Active, (int)(await db.ScalarAsync(
            $"SELECT status FROM mep_cluster_member WHERE deployment_id = '{clusterId}' AND silo_name = 'node-b'"))!);

        await Poll.UntilTrue(async () => await Count($"silo_name = 'node-b' AND status = {Dead}") == 1, TimeSpan.FromSeconds(90),
            () => "node-b declared dead");
        // Declared by a vote: the row carries the suspicion that led to it.
        Assert.NotNull(await db.ScalarAsync(
            $"SELECT suspect_times FROM mep_cluster_member WHERE deployment_id = '{clusterId}' AND silo_name = 'node-b'") as string);
        Assert.Equal(1L, await Count($"silo_name = 'node-a' AND status = {Active}"));
        await Poll.UntilTrue(() => Task.FromResult(ActiveSilos(a) == 1), TimeSpan.FromSeconds(30), () => "a sees itself alone");

        // Defunct cleanup: the provider matches each dead row on the times it read back, so this also checks that
        // timestamps survive the round trip exactly. Only the dead row goes.
        var table = a.Services.GetRequiredService<IMembershipTable>();
        await table.CleanupDefunctSiloEntriesAsync(DateTimeOffset.UtcNow.AddMinutes(5), CancellationToken.None);
        Assert.Equal(0L, await Count("silo_name = 'node-b'"));
        Assert.Equal(1L, await Count($"silo_name = 'node-a' AND status = {Active}"));
    }

    private async Task<Process> StartNodeProcessAsync(string name)
    {
        // The node's build output next to ours: Tests/bin/CONFIG/TFM -> Tests/ClusterNode/bin/CONFIG/TFM.
        var ours = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
        var program = Path.Combine(RabbitMqNode.RepositoryRoot(), "Tests", "ClusterNode", "bin", ours.Parent!.Name, ours.Name,
            "mep-test-cluster-node.dll");
        Assert.True(File.Exists(program), $"{program} not built");
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { program, db.RuntimeConnectionFile, clusterId, name, FreePort().ToString(CultureInfo.InvariantCulture),
            FreePort().ToString(CultureInfo.InvariantCulture) })
        {
            psi.ArgumentList.Add(argument);
        }
        var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start the cluster node");
        processes.Add(process);
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var line = await process.StandardOutput.ReadLineAsync(timeout.Token);
        if (line is null || !line.StartsWith("ready", StringComparison.Ordinal))
        {
            process.Kill();
            throw new InvalidOperationException($"cluster node {name} did not start: {line} {await errors}");
        }
        return process;
    }

    private async Task<long> Count(string where) =>
        (long)(await db.ScalarAsync($"SELECT count(*) FROM mep_cluster_member WHERE deployment_id = '{clusterId}' AND {where}"))!;

    private static int ActiveSilos(IHost host) =>
        host.Services.GetRequiredService<IClusterMembershipService>().CurrentSnapshot.Members.Values.Count(m => m.Status == SiloStatus.Active);

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }
}
