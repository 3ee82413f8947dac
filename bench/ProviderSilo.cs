using System.Net;
using System.Net.Sockets;
using Mep.Streams.RabbitMQ;
using Mep.Streams.RabbitMQ.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Providers.Streams.Common;
using Orleans.Runtime;
using Orleans.Streams;
using RabbitMQ.Client.Exceptions;

namespace Mep.Bench;

/// <summary>
/// A one-silo Orleans cluster in this process (localhost clustering on free ports) with the RabbitMQ stream provider
/// under test, implicit subscriptions only, and <see cref="StreamCounterGrain"/> as the subscriber.
/// </summary>
internal sealed class ProviderSilo(IHost host, BenchSettings settings) : IAsyncDisposable
{
    public const string Exchange = "mep-bench.streams";

    public static async Task<ProviderSilo> StartAsync(Broker broker, BenchSettings settings, DeliveryCounter counter, bool verbose,
        CancellationToken ct)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            DisableDefaults = true, // no appsettings, environment or command line: only what is set here counts
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(verbose ? LogLevel.Information : LogLevel.Warning);
        var (siloPort, gatewayPort) = FreePorts();
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(siloPort, gatewayPort, serviceId: "mep-bench", clusterId: "mep-bench");
            silo.Services.AddSingleton(counter);
            silo.AddRabbitMqStreams(BenchStreams.Provider, c =>
            {
                c.ConfigureRabbitMq(ob => ob.Configure(o =>
                {
                    o.HostName = settings.Host;
                    o.Port = settings.AmqpPort;
                    o.VirtualHost = broker.VirtualHost;
                    o.UserName = settings.User;
                    o.Password = settings.Password;
                    o.ClientProvidedName = "mep-bench-silo";
                    o.ConfigureConnectionFactory = factory => factory.Ssl = settings.Access.Ssl();
                    o.Exchange = Exchange;
                    o.PartitionCount = settings.Partitions;
                    o.QueueType = settings.QueueType;
                    o.Prefetch = settings.Prefetch;
                }));
                c.ConfigureStreamPubSub(StreamPubSubType.ImplicitOnly);
                c.ConfigureCache(settings.CacheSize);
                c.ConfigurePullingAgent(ob => ob.Configure(o =>
                {
                    o.GetQueueMsgsTimerPeriod = settings.PollPeriod;
                    o.BatchContainerBatchSize = settings.BatchContainerBatchSize;
                }));
            });
        });
        var host = builder.Build();
        await host.StartAsync(ct);
        var silo = new ProviderSilo(host, settings);
        try
        {
            await silo.WaitUntilEveryPartitionIsConsumedAsync(broker, ct);
        }
        catch
        {
            await silo.DisposeAsync();
            throw;
        }
        return silo;
    }

    public IAsyncStream<BenchEvent> OrleansStream(string key) =>
        host.Services.GetRequiredService<IClusterClient>().GetStreamProvider(BenchStreams.Provider)
            .GetStream<BenchEvent>(StreamId.Create(BenchStreams.Orleans, key));

    /// <summary>
    /// Sends a round through the provider from Orleans: every stream has its own producer, all at once, each awaiting
    /// its events one by one (the provider confirms each; the confirms of concurrent producers share round trips).
    /// </summary>
    public Task PublishFromOrleansAsync(int round, CancellationToken ct)
    {
        var padding = new string('x', Math.Max(0, settings.MessageSize - 64));
        return Task.WhenAll(Enumerable.Range(0, settings.Streams).Select(async s =>
        {
            var key = ExternalPublisher.StreamKey(s);
            var stream = OrleansStream(key);
            for (var sequence = 0; sequence < settings.EventsPerStream; sequence++)
            {
                ct.ThrowIfCancellationRequested();
                await stream.OnNextAsync(new BenchEvent(round, key, sequence, padding));
            }
        }));
    }

    /// <summary>Stops (or starts again) the pulling agents, for a drain measurement: the queues fill up while they are stopped.</summary>
    public Task StopAgentsAsync() => ControlAgentsAsync(PersistentStreamProviderCommand.StopAgents);

    public Task StartAgentsAsync() => ControlAgentsAsync(PersistentStreamProviderCommand.StartAgents);

    private Task ControlAgentsAsync(PersistentStreamProviderCommand command) =>
        host.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0)
            .SendControlCommandToProvider<PersistentStreamProvider>(BenchStreams.Provider, (int)command);

    // Partitions are taken by lease shortly after start; until each queue has its consumer, events would only wait.
    private async Task WaitUntilEveryPartitionIsConsumedAsync(Broker broker, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        await using var connection = await broker.ConnectAsync("mep-bench-readiness", ct);
        for (var p = 0; p < settings.Partitions; p++)
        {
            var queue = RabbitMqStreamPartitioner.QueueName(Exchange, p);
            while (true)
            {
                try
                {
                    // A passive declare of a queue that does not exist yet closes the channel: one channel per attempt.
                    await using var channel = await connection.CreateChannelAsync(cancellationToken: ct);
                    if ((await channel.QueueDeclarePassiveAsync(queue, ct)).ConsumerCount > 0)
                    {
                        break;
                    }
                }
                catch (OperationInterruptedException)
                {
                }
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"the silo did not consume queue {queue} within 2 minutes (run with --verbose to see why)");
                }
                await Task.Delay(TimeSpan.FromMilliseconds(200), ct);
            }
        }
    }

    private static (int, int) FreePorts()
    {
        // Both listeners stay open until both ports are known, so the kernel cannot hand out one twice.
        var a = new TcpListener(IPAddress.Loopback, 0);
        var b = new TcpListener(IPAddress.Loopback, 0);
        a.Start();
        b.Start();
        var ports = (((IPEndPoint)a.LocalEndpoint).Port, ((IPEndPoint)b.LocalEndpoint).Port);
        a.Stop();
        b.Stop();
        return ports;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await host.StopAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            host.Dispose();
        }
    }
}
