using Mep.Database.Sqlite;
using Mep.Grains;
using Mep.Grains.Audit;
using Mep.Grains.Broker;
using Mep.Grains.Endpoints;
using Mep.Grains.Nodes;
using Mep.Silo.Services;
using Mep.Silo.Storage;
using Mep.Tests.EndToEnd;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.TestingHost;

namespace Mep.Tests.Grains;

/// <summary>
/// The grains on an in-process Orleans test cluster with real SQLite storage, the site's RabbitMQ node (in a virtual
/// host of its own) and a real launcher socket: the silo of the grain tests.
/// </summary>
internal static class GrainTestCluster
{
    /// <param name="suffix">Names the cluster and its virtual host: the end-to-end silo shares the broker and must not
    /// take these results.</param>
    public static Task<InProcessTestCluster> StartAsync(
        SiteFixture site, string suffix, string dir, string endpointDir, string launcherSocket, Action<MepOptions>? configure = null) =>
        StartAsync(site, suffix, dir, endpointDir, [launcherSocket], configure);

    /// <param name="launcherSockets">One silo per socket: each a login node with a launcher of its own (silo i uses socket
    /// i). With more than one, dead silos are declared within seconds.</param>
    public static async Task<InProcessTestCluster> StartAsync(
        SiteFixture site, string suffix, string dir, string endpointDir, IReadOnlyList<string> launcherSockets, Action<MepOptions>? configure = null)
    {
        var builder = new InProcessTestClusterBuilder((short)launcherSockets.Count);
        var socketOf = new Dictionary<string, string>(StringComparer.Ordinal);
        builder.Options.ServiceId = $"mep-grains-{suffix}";
        builder.Options.ConfigureFileLogging = Environment.GetEnvironmentVariable("MEP_TEST_LOGS") == "1";
        builder.ConfigureSilo((siloOptions, silo) =>
        {
            string socket;
            lock (socketOf)
            {
                socket = socketOf.TryGetValue(siloOptions.SiloName, out var known) ? known : socketOf[siloOptions.SiloName] = launcherSockets[socketOf.Count];
            }

            if (launcherSockets.Count > 1)
            {
                silo.Configure<Orleans.Configuration.ClusterMembershipOptions>(o =>
                {
                    o.ProbeTimeout = TimeSpan.FromSeconds(1);
                    o.NumMissedProbesLimit = 1;
                    o.NumVotesForDeathDeclaration = 1;
                    o.TableRefreshTimeout = TimeSpan.FromSeconds(1);
                    o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(1);
                });
            }

            silo.AddSqliteGrainStorage(StorageNames.Mep, Path.Combine(dir, "mep.db"));
            silo.AddMepSqliteTaskStore(Path.Combine(dir, "mep.db"));
            silo.AddMepEventStreams();
            silo.AddMepNodePlacement();
            silo.UseInMemoryReminderService();
            silo.Services.Configure<MepOptions>(o =>
            {
                o.Endpoints = [endpointDir];
                o.LauncherSocket = socket;
                configure?.Invoke(o);
            });
            silo.Services.AddSingleton(sp => new EndpointCatalog([endpointDir], NullLogger.Instance));
            // One audit log per node, as in production: two writers appending to one file would overwrite each other.
            var node = launcherSockets.ToList().IndexOf(socket);
            silo.Services.AddMepAuditLog(o => o.Path = Path.Combine(dir, node == 0 ? "audit.log" : $"audit-node{node + 1}.log"));
            silo.Services.AddMepBrokerServices(new ConfigurationBuilder()
                .AddInMemoryCollection(new Dictionary<string, string?>
                {
                    ["Host"] = site.Broker.Host,
                    ["AmqpPort"] = $"{site.Broker.AmqpPort}",
                    ["ManagementPort"] = $"{site.Broker.ManagementPort}",
                    ["AdminUser"] = site.Broker.AdminUser,
                    ["AdminPassword"] = site.Broker.AdminPassword,
                    ["CaFile"] = site.Broker.CaFile,
                    ["VirtualHost"] = $"mep-grains-{suffix}",
                }).Build());
            silo.Services.AddMepLauncherServices();
            silo.Services.AddMepGrainCallers();
        });
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }
}
