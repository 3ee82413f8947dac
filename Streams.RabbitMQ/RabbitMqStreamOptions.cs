using Orleans;
using RabbitMQ.Client;

namespace Mep.Streams.RabbitMQ;

public enum RabbitMqQueueType
{
    /// <summary>Replicated, durable queues: what a production cluster of brokers wants.</summary>
    Quorum,
    /// <summary>Single-node queues: lighter, and enough for a one-broker site.</summary>
    Classic,
}

/// <summary>
/// One RabbitMQ stream provider's settings, configured as named options under the provider's name. The exchange,
/// the partition count and the provider name together decide where every stream's events go: keep them stable for
/// the life of a deployment (changing the partition count re-maps streams, and events still queued lose their order).
/// </summary>
public sealed class RabbitMqStreamOptions
{
    public string HostName { get; set; } = "localhost";
    public int Port { get; set; } = AmqpTcpEndpoint.UseDefaultPort;
    public string VirtualHost { get; set; } = "/";
    public string UserName { get; set; } = "guest";
    /// <summary>Never shown: Orleans logs every provider's options at start, and redacts only what is marked so.</summary>
    [Redact]
    public string Password { get; set; } = "guest";
    /// <summary>Read the password from this file instead of <see cref="Password"/> (keeps it out of configuration).</summary>
    public string? PasswordFile { get; set; }
    /// <summary>The name the broker shows for the provider's connection.</summary>
    public string ClientProvidedName { get; set; } = "orleans-streams";
    /// <summary>A last word on the connection factory (TLS, heartbeats, …), applied after the settings above.</summary>
    public Action<ConnectionFactory>? ConfigureConnectionFactory { get; set; }

    /// <summary>Topic exchange every event is published to; the partition queues are named after it.</summary>
    public string Exchange { get; set; } = "orleans.streams";
    public int PartitionCount { get; set; } = 8;
    public RabbitMqQueueType QueueType { get; set; } = RabbitMqQueueType.Quorum;
    /// <summary>
    /// Unacknowledged deliveries a receiver holds at once (AMQP basic.qos); also bounds its buffer. The pulling
    /// agent acks at the start of a poll, so one partition drains at most about Prefetch / (2 × poll period) events/s
    /// (bench: 512 at 100 ms kept 45% of raw RabbitMQ's drain rate, 2048 kept 83%, 4096 all of it).
    /// </summary>
    public ushort Prefetch { get; set; } = 2048;
    /// <summary>
    /// How long a poll of an empty receiver waits for a delivery before it answers "nothing" (zero: it answers at
    /// once). With a short pulling-agent period, events are then handed on as they arrive, while an idle partition is
    /// looked at only once per wait instead of once per period.
    /// </summary>
    public TimeSpan ReceiveWait { get; set; } = TimeSpan.Zero;
    /// <summary>Wait for the broker to confirm each publish; a refused or unroutable publish then throws.</summary>
    public bool PublisherConfirms { get; set; } = true;
    /// <summary>Publish events as persistent (delivery mode 2), so a durable queue keeps them over a broker restart.</summary>
    public bool PersistentMessages { get; set; } = true;
    /// <summary>Where undeliverable events go, with the reason; defaults to <c>{Exchange}.dead-letter</c>.</summary>
    public string? DeadLetterQueue { get; set; }
    /// <summary>
    /// Broker users, besides the provider's own, whose Orleans-encoded messages are decoded. Orleans-encoded bodies
    /// from anyone else are dead-lettered unread: decoding untrusted binary input is an attack surface, and external
    /// publishers use the plain <see cref="RabbitMqStreamMessage"/> form instead.
    /// </summary>
    public IList<string> TrustedOrleansPublishers { get; set; } = [];
    /// <summary>Longest pause between reconnection attempts after the broker went away.</summary>
    public TimeSpan MaxReconnectDelay { get; set; } = TimeSpan.FromSeconds(5);

    public string DeadLetterQueueName => string.IsNullOrEmpty(DeadLetterQueue) ? $"{Exchange}.dead-letter" : DeadLetterQueue;

    public string ResolvePassword() =>
        string.IsNullOrEmpty(PasswordFile) ? Password : File.ReadAllText(PasswordFile).Trim();
}
