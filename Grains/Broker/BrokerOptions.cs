using Mep.Protocol.Messages;
using Mep.Protocol.Tls;
using RabbitMQ.Client;

namespace Mep.Grains.Broker;

public enum BrokerQueueType
{
    Quorum,
    Classic,
}

/// <summary>Where the silo's RabbitMQ is and how MEP uses it (configuration section <c>Broker</c>).</summary>
public sealed class BrokerOptions
{
    public const string Section = "Broker";

    /// <summary>The broker's host name or address, as its certificate names it (clients check).</summary>
    public string Host { get; set; } = "127.0.0.1";
    public int AmqpPort { get; set; } = 5671;
    public int ManagementPort { get; set; } = 15671;
    /// <summary>
    /// AMQPS and the management API over https, the broker's certificate and host name verified: for the silo, the
    /// UEPs and their workers. False (plain AMQP and http) is accepted for a broker on loopback only.
    /// </summary>
    public bool Tls { get; set; } = true;
    /// <summary>
    /// PEM CA certificates the broker's certificate must chain to (a site's private CA), passed on to every UEP, so
    /// it must be readable by users; empty: the system's trust store.
    /// </summary>
    public string? CaFile { get; set; }
    public string VirtualHost { get; set; } = "mep";
    public string AdminUser { get; set; } = "admin";
    /// <summary>The admin password itself; prefer <see cref="AdminPasswordFile"/> so it stays out of config files.</summary>
    public string? AdminPassword { get; set; }
    /// <summary>A file holding the admin password (e.g. the one <c>scripts/rabbitmq-node</c> writes).</summary>
    public string? AdminPasswordFile { get; set; }
    /// <summary>Type of the queues MEP declares; quorum queues survive a broker restart with their messages.</summary>
    public BrokerQueueType QueueType { get; set; } = BrokerQueueType.Quorum;
    /// <summary>
    /// Partition queues of the event stream (<c>mep.events.{n}</c>), spread over the silos. Fixed for the life of
    /// a site: UEP credentials pin each UEP's partition, and a change re-maps every UEP.
    /// </summary>
    public int EventPartitions { get; set; } = 8;
    /// <summary>
    /// How often each partition's reader looks for new events (Orleans' pulling agents poll) while it has some; a poll
    /// of a partition with none waits up to <see cref="EventWait"/> for one, so an idle silo wakes each partition about
    /// once per wait. Measured on a 2-core VM with 8 partitions, polling without a wait: an idle silo used 3.6% of a core
    /// polling every 100 ms and 8.8% every 10 ms, and 50 ms added 25 ms to a result's average latency; 1 ms with a
    /// 50 ms wait took a warm task's result from the worker to the SDK in 4.7 ms (median) instead of 44 ms.
    /// </summary>
    public TimeSpan EventPollInterval { get; set; } = TimeSpan.FromMilliseconds(1);
    /// <summary>
    /// How long a poll of a partition with no events waits for one: an event is handed on as it arrives instead of at
    /// the next poll. Zero: no wait (each poll answers at once, and <see cref="EventPollInterval"/> alone sets the pace).
    /// </summary>
    public TimeSpan EventWait { get; set; } = TimeSpan.FromMilliseconds(50);
    /// <summary>Unacknowledged events each partition's reader holds at once.</summary>
    public ushort EventPrefetch { get; set; } = 512;
    /// <summary>Publishes in flight at once before their confirms are awaited.</summary>
    public int PublishBatchSize { get; set; } = 500;
    /// <summary>
    /// How long a batch of publishes waits for the broker's confirms (milliseconds normally). Past it the channel is
    /// taken for wedged and replaced, and the batch is reported failed, to be published again.
    /// </summary>
    public TimeSpan PublishConfirmTimeout { get; set; } = TimeSpan.FromSeconds(15);
    /// <summary>
    /// Short tasks go to a UEP several to a broker message (a task bundle): as many as make about this much work, by
    /// the run times of the UEP's recent tasks, up to <see cref="MaxTaskBundle"/>. Each message costs the broker,
    /// the silo and the worker the same whatever it holds; a worker holds a bundle whole, so this bounds the work one
    /// worker can hold beyond what it runs (per message of its prefetch). Zero: one task per message.
    /// </summary>
    public TimeSpan TaskBundleWork { get; set; } = TimeSpan.FromMilliseconds(5);
    /// <summary>The most tasks in one bundle.</summary>
    public int MaxTaskBundle { get; set; } = 32;
    /// <summary>Name the broker shows for the silo's connection.</summary>
    public string ClientName { get; set; } = "mep-silo";

    public Uri ManagementUri => new UriBuilder(Tls ? Uri.UriSchemeHttps : Uri.UriSchemeHttp, Host, ManagementPort, "/api/").Uri;

    /// <summary>Why these settings would send credentials in clear over a network; null when they do not.</summary>
    public string? PlainTextProblem() =>
        Tls || Host is "localhost" || (System.Net.IPAddress.TryParse(Host, out var address) && System.Net.IPAddress.IsLoopback(address))
            ? null
            : $"Mep:{Section}:Tls is false: plain AMQP and http are allowed to a broker on loopback only, not to '{Host}'";

    /// <summary>The CA of <see cref="CaFile"/>, or null for the system's trust store.</summary>
    public PrivateTrust? LoadTrust() => string.IsNullOrWhiteSpace(CaFile) ? null : PrivateTrust.Load(CaFile, $"Mep:{Section}:CaFile");

    /// <summary>AMQPS settings for a connection factory; <paramref name="check"/> tells why a certificate was refused.</summary>
    public SslOption AmqpTls(out ServerCertificateCheck check)
    {
        check = new ServerCertificateCheck(Tls ? LoadTrust() : null);
        return new SslOption { Enabled = Tls, ServerName = Host, CertificateValidationCallback = check.Validate };
    }

    /// <summary>The management API's HTTP handler: verifies the broker against <see cref="CaFile"/> (or the system's store).</summary>
    public HttpMessageHandler ManagementHandler() => PrivateTrust.HttpHandler(Tls ? LoadTrust() : null);

    public string ResolveAdminPassword()
    {
        if (!string.IsNullOrEmpty(AdminPassword))
        {
            return AdminPassword;
        }
        if (string.IsNullOrEmpty(AdminPasswordFile))
        {
            throw new InvalidOperationException($"{Section}: set {nameof(AdminPassword)} or {nameof(AdminPasswordFile)}");
        }
        var password = File.ReadAllText(AdminPasswordFile).Trim();
        return password.Length > 0
            ? password
            : throw new InvalidOperationException($"{Section}: {AdminPasswordFile} is empty");
    }

    /// <summary>The routing key a UEP publishes its events with: its stream's partition, then its own name.</summary>
    public string EventsRoutingKey(string uepId) => BrokerNames.EventsRoutingKey(
        Mep.Streams.RabbitMQ.RabbitMqStreamPartitioner.Partition(BrokerNames.EventStreamNamespace, uepId, EventPartitions), uepId);

    internal string QueueTypeArgument => QueueType == BrokerQueueType.Quorum ? "quorum" : "classic";
}
