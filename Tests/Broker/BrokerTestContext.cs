using System.Net.Http.Headers;
using System.Text;
using Mep.Grains.Broker;
using Mep.Protocol.Messages;
using Mep.Tests.Infrastructure;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Mep.Tests.Broker;

/// <summary>
/// One virtual host of the shared node per test, set up by <see cref="BrokerAdmin"/> as the silo would, and
/// deleted afterwards with the UEP users the test minted: tests never see each other's queues or messages.
/// </summary>
internal sealed class BrokerTestContext : IAsyncDisposable
{
    private readonly List<string> _uepIds = [];

    private BrokerTestContext(RabbitMqNode node, BrokerOptions options)
    {
        Node = node;
        Options = options;
        Http = new HttpClient(options.ManagementHandler());
        Admin = new BrokerAdmin(Http, Microsoft.Extensions.Options.Options.Create(options));
        Connection = new BrokerConnection(Microsoft.Extensions.Options.Options.Create(options));
    }

    public RabbitMqNode Node { get; }
    public BrokerOptions Options { get; }
    public HttpClient Http { get; }
    public BrokerAdmin Admin { get; }
    public BrokerConnection Connection { get; }

    public static async Task<BrokerTestContext> CreateAsync(RabbitMqNode node, Action<BrokerOptions>? configure = null)
    {
        var options = new BrokerOptions
        {
            Host = node.Host,
            AmqpPort = node.AmqpPort,
            ManagementPort = node.ManagementPort,
            VirtualHost = "mep-test-" + Guid.NewGuid().ToString("N")[..12],
            AdminUser = node.AdminUser,
            AdminPasswordFile = node.AdminPasswordFile,
            CaFile = node.CaFile,
        };
        configure?.Invoke(options);
        var context = new BrokerTestContext(node, options);
        await context.Admin.EnsureVirtualHostAsync();
        await context.DeclareEventTopologyAsync();
        return context;
    }

    /// <summary>The event stream's exchange and partition queues, declared as the silo's stream provider does.</summary>
    public async Task DeclareEventTopologyAsync()
    {
        var connection = await Connection.GetAsync();
        await Mep.Streams.RabbitMQ.Providers.RabbitMqTopology.DeclareAsync(connection, new Mep.Streams.RabbitMQ.RabbitMqStreamOptions
        {
            Exchange = BrokerNames.EventsExchange,
            PartitionCount = Options.EventPartitions,
        }, CancellationToken.None);
    }

    /// <summary>The partition queue a UEP's events land in.</summary>
    public string EventsQueueOf(string uepId) => Mep.Streams.RabbitMQ.RabbitMqStreamPartitioner.QueueName(BrokerNames.EventsExchange,
        Mep.Streams.RabbitMQ.RabbitMqStreamPartitioner.Partition(BrokerNames.EventStreamNamespace, uepId, Options.EventPartitions));

    public static string NewUepId() => Guid.NewGuid().ToString("N");

    /// <summary>A UEP as the silo prepares one: its task queue and its own broker user.</summary>
    public async Task<BrokerCredentials> AddUepAsync(string uepId)
    {
        _uepIds.Add(uepId);
        await Admin.EnsureTaskQueueAsync(uepId);
        return await Admin.MintUepCredentialsAsync(uepId);
    }

    public Task<IConnection> ConnectAsync(BrokerCredentials credentials) => new ConnectionFactory
    {
        HostName = Options.Host,
        Port = Options.AmqpPort,
        VirtualHost = Options.VirtualHost,
        UserName = credentials.Username,
        Password = credentials.Password,
        AutomaticRecoveryEnabled = false,
        Ssl = Node.Ssl(),
    }.CreateConnectionAsync();

    public static Task<IChannel> ConfirmChannelAsync(IConnection connection) =>
        connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true,
            publisherConfirmationTrackingEnabled: true));

    /// <summary>Ready (not unacked) messages in a queue, asked of the broker over AMQP (management stats lag).</summary>
    public async Task<uint> ReadyCountAsync(string queue)
    {
        var connection = await Connection.GetAsync();
        await using var channel = await connection.CreateChannelAsync();
        var ok = await channel.QueueDeclarePassiveAsync(queue);
        await channel.CloseAsync();
        return ok.MessageCount;
    }

    /// <summary>
    /// Takes one message off a queue with a consumer: the partition queues allow a single active consumer, and
    /// quorum queues refuse basic.get on those.
    /// </summary>
    public async Task<RabbitMQ.Client.Events.BasicDeliverEventArgs> ConsumeOneAsync(string queue)
    {
        var connection = await Connection.GetAsync();
        await using var channel = await connection.CreateChannelAsync();
        var got = new TaskCompletionSource<RabbitMQ.Client.Events.BasicDeliverEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        var consumer = new RabbitMQ.Client.Events.AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, ea) =>
        {
            // The body's memory is the client's only during this callback: keep a copy.
            got.TrySetResult(new RabbitMQ.Client.Events.BasicDeliverEventArgs(ea.ConsumerTag, ea.DeliveryTag, ea.Redelivered,
                ea.Exchange, ea.RoutingKey, ea.BasicProperties, ea.Body.ToArray()));
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(queue, autoAck: true, consumer);
        return await got.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    public async Task<HttpResponseMessage> ManagementGetAsync(string path, string user, string password)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(Options.ManagementUri, path));
        request.Headers.Authorization = new AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        return await Http.SendAsync(request);
    }

    /// <summary>
    /// Runs an AMQP operation that the broker must refuse and returns the reply code it closed the channel with.
    /// With RabbitMQ.Client 7 a channel error surfaces as the awaited call's exception, or, for a publish without
    /// a confirm to wait for, only as the channel's close reason.
    /// </summary>
    public static async Task<ushort> RefusalCodeAsync(IChannel channel, Func<Task> operation)
    {
        try
        {
            await operation();
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason is not null)
        {
            return e.ShutdownReason.ReplyCode;
        }
        var code = await Poll.UntilAsync(() => channel.CloseReason?.ReplyCode, TimeSpan.FromSeconds(10));
        return code ?? throw new Xunit.Sdk.XunitException("the broker accepted an operation it must refuse");
    }

    public async ValueTask DisposeAsync()
    {
        await Connection.DisposeAsync();
        foreach (var uepId in _uepIds)
        {
            await Admin.DeleteUepUserAsync(uepId);
        }
        using var request = new HttpRequestMessage(HttpMethod.Delete,
            new Uri(Options.ManagementUri, "vhosts/" + Uri.EscapeDataString(Options.VirtualHost)));
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(
            Encoding.UTF8.GetBytes($"{Options.AdminUser}:{Options.ResolveAdminPassword()}")));
        (await Http.SendAsync(request)).Dispose();
        Http.Dispose();
    }
}

internal static class Poll
{
    /// <summary>Polls until the probe yields a value or the deadline passes (then returns null).</summary>
    public static async Task<T?> UntilAsync<T>(Func<T?> probe, TimeSpan timeout) where T : struct
    {
        T? found = null;
        return await Mep.Tests.Infrastructure.Poll.TryUntilAsync(() => (found = probe()) is not null, timeout) ? found : null;
    }

    public static Task<bool> UntilAsync(Func<Task<bool>> condition, TimeSpan timeout) =>
        Mep.Tests.Infrastructure.Poll.TryUntilAsync(condition, timeout);

    public static Task<bool> UntilAsync(Func<bool> condition, TimeSpan timeout) =>
        Mep.Tests.Infrastructure.Poll.TryUntilAsync(condition, timeout);
}
