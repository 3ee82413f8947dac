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

    public string Host { get; set; } = "127.0.0.1";
    public int AmqpPort { get; set; } = 5672;
    public int ManagementPort { get; set; } = 15672;
    public string VirtualHost { get; set; } = "mep";
    public string AdminUser { get; set; } = "admin";
    /// <summary>The admin password itself; prefer <see cref="AdminPasswordFile"/> so it stays out of config files.</summary>
    public string? AdminPassword { get; set; }
    /// <summary>A file holding the admin password (e.g. the one <c>scripts/rabbitmq-node</c> writes).</summary>
    public string? AdminPasswordFile { get; set; }
    /// <summary>Type of the queues MEP declares; quorum queues survive a broker restart with their messages.</summary>
    public BrokerQueueType QueueType { get; set; } = BrokerQueueType.Quorum;
    /// <summary>Unacknowledged result messages the silo takes at once.</summary>
    public ushort ResultsPrefetch { get; set; } = 64;
    /// <summary>Result messages handled in parallel (each is acked on its own after its handler).</summary>
    public ushort ResultsConcurrency { get; set; } = 4;
    /// <summary>Pause before a message whose handler failed is returned to the queue, so a failing handler does not spin.</summary>
    public TimeSpan HandlerFailureBackoff { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>Publishes in flight at once before their confirms are awaited.</summary>
    public int PublishBatchSize { get; set; } = 500;
    /// <summary>Name the broker shows for the silo's connection.</summary>
    public string ClientName { get; set; } = "mep-silo";

    public Uri ManagementUri => new UriBuilder(Uri.UriSchemeHttp, Host, ManagementPort, "/api/").Uri;

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

    internal string QueueTypeArgument => QueueType == BrokerQueueType.Quorum ? "quorum" : "classic";
}
