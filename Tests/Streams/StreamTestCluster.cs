using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Mep.Grains.Broker;
using Mep.Streams.RabbitMQ;
using Mep.Streams.RabbitMQ.Hosting;
using Mep.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Streams;
using Orleans.TestingHost;
using RabbitMQ.Client;

namespace Mep.Tests.Streams;

/// <summary>
/// An in-process cluster with the RabbitMQ stream provider on a virtual host of its own, a client that publishes
/// through it, and the delivery log its subscribers write to.
/// </summary>
internal sealed class StreamTestCluster : IAsyncDisposable
{
    public const int Partitions = 8;

    private StreamTestCluster(RabbitMqNode node, string virtualHost, InProcessTestCluster cluster, DeliveryLog log)
    {
        Node = node;
        VirtualHost = virtualHost;
        Cluster = cluster;
        Log = log;
    }

    public RabbitMqNode Node { get; }
    public string VirtualHost { get; }
    public InProcessTestCluster Cluster { get; }
    public DeliveryLog Log { get; }
    public const string Exchange = "test.events";

    /// <param name="maxEventDeliveryTime">
    /// How long a failing delivery is retried before the event is dead-lettered. Keep it well above the time the
    /// cluster takes to declare a killed silo dead: until then, calls to grains that lived there fail.
    /// </param>
    /// <param name="receiveWait">How long a poll of an empty partition waits for a delivery (none by default).</param>
    public static async Task<StreamTestCluster> StartAsync(RabbitMqNode node, int silos, TimeSpan? maxEventDeliveryTime = null,
        TimeSpan? receiveWait = null)
    {
        var virtualHost = "streams-" + Guid.NewGuid().ToString("N")[..10];
        using (var http = node.Tls.Client())
        {
            var admin = new BrokerAdmin(http, Microsoft.Extensions.Options.Options.Create(new BrokerOptions
            {
                Host = node.Host,
                AmqpPort = node.AmqpPort,
                ManagementPort = node.ManagementPort,
                VirtualHost = virtualHost,
                AdminUser = node.AdminUser,
                AdminPassword = node.AdminPassword,
                CaFile = node.CaFile,
            }));
            await admin.EnsureVirtualHostAsync();
        }
        var log = new DeliveryLog();
        var builder = new InProcessTestClusterBuilder((short)silos);
        builder.Options.ServiceId = virtualHost;
        builder.ConfigureSilo((options, silo) =>
        {
            silo.Services.AddSingleton(log);
            silo.AddRabbitMqStreams(StreamTestNames.Provider, c =>
            {
                c.ConfigureRabbitMq(ob => ob.Configure(o =>
                {
                    Configure(o, node, virtualHost, options.SiloName);
                    o.ReceiveWait = receiveWait ?? TimeSpan.Zero;
                }));
                c.ConfigureStreamPubSub(StreamPubSubType.ImplicitOnly);
                c.ConfigurePullingAgent(ob => ob.Configure(o =>
                {
                    o.MaxEventDeliveryTime = maxEventDeliveryTime ?? TimeSpan.FromMinutes(1);
                    o.GetQueueMsgsTimerPeriod = TimeSpan.FromMilliseconds(20);
                }));
                c.ConfigureLeases(o =>
                {
                    o.LeaseLength = TimeSpan.FromSeconds(6);
                    o.LeaseRenewPeriod = TimeSpan.FromSeconds(2);
                    o.LeaseAcquisitionPeriod = TimeSpan.FromSeconds(1);
                });
            });
        });
        builder.ConfigureClient(client => client.AddRabbitMqStreams(StreamTestNames.Provider, c =>
        {
            c.ConfigureRabbitMq(ob => ob.Configure(o => Configure(o, node, virtualHost, "client")));
            c.ConfigureStreamPubSub(StreamPubSubType.ImplicitOnly);
        }));
        var cluster = builder.Build();
        await cluster.DeployAsync();
        var site = new StreamTestCluster(node, virtualHost, cluster, log);
        // Ready when every partition is consumed: the topology exists and events have somewhere to go.
        await Poll.UntilTrue(async () => (await site.PartitionConsumersAsync()).Count == Partitions, TimeSpan.FromMinutes(2),
            () => "the silos never consumed every partition");
        return site;
    }

    private static void Configure(RabbitMqStreamOptions o, RabbitMqNode node, string virtualHost, string who)
    {
        o.HostName = node.Host;
        o.Port = node.AmqpPort;
        o.VirtualHost = virtualHost;
        o.UserName = node.AdminUser;
        o.Password = node.AdminPassword;
        o.Exchange = Exchange;
        o.PartitionCount = Partitions;
        o.ClientProvidedName = who;
        o.MaxReconnectDelay = TimeSpan.FromSeconds(1);
        o.ConfigureConnectionFactory = factory => factory.Ssl = node.Ssl();
    }

    public IAsyncStream<TestStreamEvent> Stream(string key) =>
        Cluster.Client.GetStreamProvider(StreamTestNames.Provider).GetStream<TestStreamEvent>(StreamId.Create(StreamTestNames.Orleans, key));

    /// <summary>An AMQP connection to this cluster's virtual host, as the broker's admin or another user.</summary>
    public Task<IConnection> ConnectAsync(string? user = null, string? password = null) => new ConnectionFactory
    {
        HostName = Node.Host,
        Port = Node.AmqpPort,
        VirtualHost = VirtualHost,
        UserName = user ?? Node.AdminUser,
        Password = password ?? Node.AdminPassword,
        Ssl = Node.Ssl(),
    }.CreateConnectionAsync();

    public async Task DeleteExchangeAsync()
    {
        using var http = ManagementClient();
        using var response = await http.DeleteAsync(new Uri(Node.ManagementUri, $"api/exchanges/{Uri.EscapeDataString(VirtualHost)}/{Exchange}"));
        response.EnsureSuccessStatusCode();
    }

    private HttpClient ManagementClient()
    {
        var http = Node.Tls.Client();
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{Node.AdminUser}:{Node.AdminPassword}")));
        return http;
    }

    /// <summary>Names of the connections consuming each partition queue (from the management API).</summary>
    public async Task<Dictionary<string, List<string>>> PartitionConsumersAsync()
    {
        using var http = ManagementClient();
        var vhost = Uri.EscapeDataString(VirtualHost);
        // Consumers name their connection by address; the connection list maps that to the client-provided name.
        var connections = (await http.GetFromJsonAsync<JsonArray>(new Uri(Node.ManagementUri, $"api/vhosts/{vhost}/connections")))!
            .OfType<JsonObject>()
            .Where(c => c["name"] is JsonValue)
            .ToDictionary(c => c["name"]!.GetValue<string>(), c => (c["user_provided_name"] as JsonValue)?.GetValue<string>() ?? "?");
        var consumers = await http.GetFromJsonAsync<JsonArray>(new Uri(Node.ManagementUri, $"api/consumers/{vhost}"));
        var result = new Dictionary<string, List<string>>();
        foreach (var c in consumers!)
        {
            // The management API gives [] instead of an object for details it has not collected yet.
            if ((c as JsonObject)?["queue"] is not JsonObject queueDetails || queueDetails["name"]?.GetValue<string>() is not { } queue)
            {
                continue;
            }
            var address = (c["channel_details"] as JsonObject)?["connection_name"]?.GetValue<string>() ?? "?";
            var connection = connections.GetValueOrDefault(address, address);
            // With a single active consumer, only the active one reads; the waiting one is a handover in progress.
            if (c["activity_status"]?.GetValue<string>() is "waiting")
            {
                continue;
            }
            (result.TryGetValue(queue, out var list) ? list : result[queue] = []).Add(connection);
        }
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.DisposeAsync();
    }
}
