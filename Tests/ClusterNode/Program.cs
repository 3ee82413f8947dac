using System.Net;
using Mep.Database.PostgreSql;
using Mep.Silo.Database;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Orleans.Configuration;

// mep-test-cluster-node CONNECTION_FILE CLUSTER_ID NAME SILO_PORT GATEWAY_PORT
// Joins the cluster, prints "ready" on stdout once the silo runs (logs go to stderr), and stays until killed or until
// stdin closes.
if (args.Length != 5)
{
    Console.Error.WriteLine("usage: mep-test-cluster-node CONNECTION_FILE CLUSTER_ID NAME SILO_PORT GATEWAY_PORT");
    return 2;
}

var connection = ConnectionStringFile.Read(args[0]).ConnectionString;
await using var dataSource = NpgsqlDataSource.Create(connection);
var (clusterId, name, siloPort, gatewayPort) = (args[1], args[2], int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture),
    int.Parse(args[4], System.Globalization.CultureInfo.InvariantCulture));

using var host = Host.CreateDefaultBuilder()
    .ConfigureLogging(l => l.ClearProviders().AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(LogLevel.Warning))
    .UseOrleans(silo =>
    {
        silo.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (clusterId, "mep-pg-test"));
        silo.Configure<SiloOptions>(o => o.SiloName = name);
        silo.ConfigureEndpoints(IPAddress.Loopback, siloPort, gatewayPort, listenOnAnyHostAddress: false);
        silo.UseMepPostgreSqlClustering(dataSource);
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
var membership = host.Services.GetRequiredService<IClusterMembershipService>();
Console.WriteLine($"ready {membership.CurrentSnapshot.Members.Count}");
await Console.In.ReadToEndAsync();
await host.StopAsync();
return 0;
