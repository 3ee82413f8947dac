using Mep.Protocol.Messages;
using Mep.Streams.RabbitMQ;
using Mep.Streams.RabbitMQ.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Streams;

namespace Mep.Grains.Broker;

/// <summary>
/// The path of everything UEPs send back: the RabbitMQ stream provider on exchange <c>mep.events</c>, delivering
/// each UEP's events to its grain through an implicit subscription (so no pub-sub store is needed).
/// </summary>
public static class MepEventStreams
{
    public const string Provider = "mep-events";

    /// <summary>Events a user endpoint grain gets per delivery at most.</summary>
    public const int EventBatchSize = 256;

    public static ISiloBuilder AddMepEventStreams(this ISiloBuilder silo) =>
        silo.AddRabbitMqStreams(Provider, c =>
        {
            c.ConfigureRabbitMq(ob => ob.Configure<IOptions<BrokerOptions>>((o, broker) => Configure(o, broker.Value)));
            c.ConfigureStreamPubSub(StreamPubSubType.ImplicitOnly);
            c.ConfigurePullingAgent(ob => ob.Configure<IOptions<BrokerOptions>>((o, broker) =>
            {
                // Orleans polls each partition every 100 ms by default; a result should not wait that long.
                o.GetQueueMsgsTimerPeriod = broker.Value.EventPollInterval;
                // A grain that keeps failing on an event gives up after this, and the event is dead-lettered. It must
                // outlast the detection of a dead silo (calls to grains that lived there fail until then), which
                // takes Orleans ~30 s with its default probes; Orleans' own default is one minute.
                o.MaxEventDeliveryTime = TimeSpan.FromMinutes(2);
                // A user endpoint gets the events waiting for it in one call, and records their results in one write.
                o.BatchContainerBatchSize = EventBatchSize;
            }));
        });

    private static void Configure(RabbitMqStreamOptions o, BrokerOptions broker)
    {
        o.HostName = broker.Host;
        o.Port = broker.AmqpPort;
        o.VirtualHost = broker.VirtualHost;
        o.UserName = broker.AdminUser;
        o.Password = broker.ResolveAdminPassword();
        o.ClientProvidedName = $"{broker.ClientName}-events";
        o.Exchange = BrokerNames.EventsExchange;
        o.PartitionCount = broker.EventPartitions;
        o.QueueType = broker.QueueType == BrokerQueueType.Quorum ? RabbitMqQueueType.Quorum : RabbitMqQueueType.Classic;
        o.Prefetch = broker.EventPrefetch;
        o.ReceiveWait = broker.EventWait;
        o.ConfigureConnectionFactory = factory => factory.Ssl = broker.AmqpTls(out _);
    }
}
