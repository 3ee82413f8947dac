using System.Text;
using Mep.Grains.Broker;
using Mep.Protocol;
using Mep.Protocol.Messages;
using Mep.Tests.Infrastructure;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Xunit;

namespace Mep.Tests.Grains;

/// <summary>
/// A stand-in for a user endpoint's workers on the broker, for tests of the cluster's side of task execution (the
/// worker program is tested on its own): it takes task messages from the UEP's queue and publishes the UEP's events,
/// logged in as the UEP's own broker user, exactly as a worker does.
/// </summary>
internal sealed class UepStandIn : IAsyncDisposable
{
    private readonly IConnection _connection;
    private readonly IChannel _channel;
    private readonly BrokerOptions _options;
    private readonly string _uepId;

    private UepStandIn(IConnection connection, IChannel channel, BrokerOptions options, string uepId, string brokerUser)
    {
        _connection = connection;
        _channel = channel;
        _options = options;
        _uepId = uepId;
        BrokerUser = brokerUser;
    }

    public string BrokerUser { get; }

    public static async Task<UepStandIn> ConnectAsync(BrokerAdmin admin, BrokerOptions options, string uepId)
    {
        var (credentials, connection) = await LoginAsync(admin, options, uepId);
        var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        return new UepStandIn(connection, channel, options, uepId, credentials.Username);
    }

    /// <summary>
    /// Mints the UEP's broker credentials and logs in with them. A grain that keeps retrying its start mints anew each
    /// time, which can change the password between our mint and our login: then mint again. A live connection survives
    /// later mints.
    /// </summary>
    public static async Task<(BrokerCredentials Credentials, IConnection Connection)> LoginAsync(BrokerAdmin admin, BrokerOptions options, string uepId)
    {
        var login = await Poll.Until(
            async () =>
            {
                BrokerCredentials credentials;
                try
                {
                    credentials = await admin.MintUepCredentialsAsync(uepId);
                }
                catch (BrokerAdminException e) when (e.Message.Contains("user_already_exists", StringComparison.Ordinal))
                {
                    // The grain's own mint created the user at the same moment (RabbitMQ refuses the second of two
                    // concurrent creations): mint again.
                    return null;
                }

                try
                {
                    var connection = await new ConnectionFactory
                    {
                        HostName = options.Host,
                        Port = options.AmqpPort,
                        VirtualHost = options.VirtualHost,
                        UserName = credentials.Username,
                        Password = credentials.Password,
                        Ssl = options.AmqpTls(out _),
                    }.CreateConnectionAsync();
                    return Tuple.Create(credentials, connection);
                }
                catch (BrokerUnreachableException e) when (e.InnerException is AuthenticationFailureException)
                {
                    return null;
                }
            },
            TimeSpan.FromSeconds(30),
            () => $"could not log in as {uepId}'s broker user");
        return (login.Item1, login.Item2);
    }

    /// <summary>The next task message of the UEP's queue (acknowledged: this stand-in never gives one back).</summary>
    public async Task<TaskMessage> TakeTaskAsync()
    {
        var delivery = await Poll.Until(
            () => _channel.BasicGetAsync(BrokerNames.TaskQueue(_uepId), autoAck: true),
            TimeSpan.FromSeconds(60),
            () => $"no task reached the queue of {_uepId}");
        Assert.Equal(DeliveryModes.Persistent, delivery.BasicProperties.DeliveryMode);
        var task = ProtocolJson.Deserialize<TaskMessage>(delivery.Body.Span);
        Assert.Equal(task.TaskId.ToString(), delivery.BasicProperties.MessageId);
        return task;
    }

    /// <summary>
    /// The next message of the UEP's queue as it was sent: one task (no type, message id = task id) or a task bundle
    /// (<see cref="BrokerNames.TaskBundleType"/>, a JSON array).
    /// </summary>
    public async Task<(string? Type, List<TaskMessage> Tasks)> TakeMessageAsync()
    {
        var delivery = await Poll.Until(
            () => _channel.BasicGetAsync(BrokerNames.TaskQueue(_uepId), autoAck: true),
            TimeSpan.FromSeconds(60),
            () => $"no message reached the queue of {_uepId}");
        Assert.Equal(DeliveryModes.Persistent, delivery.BasicProperties.DeliveryMode);
        var type = delivery.BasicProperties.Type;
        if (type == BrokerNames.TaskBundleType)
        {
            return (type, ProtocolJson.Deserialize<List<TaskMessage>>(delivery.Body.Span));
        }

        var task = ProtocolJson.Deserialize<TaskMessage>(delivery.Body.Span);
        Assert.Equal(task.TaskId.ToString(), delivery.BasicProperties.MessageId);
        return (type, [task]);
    }

    /// <summary>The next task message if the queue holds one now; null when it is empty.</summary>
    public async Task<TaskMessage?> TryTakeTaskAsync() =>
        await _channel.BasicGetAsync(BrokerNames.TaskQueue(_uepId), autoAck: true) is { } delivery
            ? ProtocolJson.Deserialize<TaskMessage>(delivery.Body.Span)
            : null;

    public Task StartedAsync(Guid taskId, DateTimeOffset at, string workerId, string hostname, string? jobId, int attempt) =>
        PublishAsync(new EndpointEvent(EndpointEventKind.TaskStarted, _uepId, at,
            Started: new TaskStartedMessage(taskId, at, hostname, workerId, jobId, attempt)));

    public Task ResultAsync(TaskResultMessage result) =>
        PublishAsync(new EndpointEvent(EndpointEventKind.Result, _uepId, result.CompletedAt, Result: result));

    /// <summary>Publishes as a worker does: to the events exchange under the UEP's routing key, with its user-id, confirmed.</summary>
    public async Task PublishAsync(EndpointEvent ev) =>
        await _channel.BasicPublishAsync(BrokerNames.EventsExchange, _options.EventsRoutingKey(_uepId), mandatory: true,
            new BasicProperties
            {
                UserId = BrokerUser,
                ContentType = "application/json",
                Headers = new Dictionary<string, object?>
                {
                    [BrokerNames.StreamNamespaceHeader] = Encoding.UTF8.GetBytes(BrokerNames.EventStreamNamespace),
                    [BrokerNames.StreamKeyHeader] = Encoding.UTF8.GetBytes(_uepId),
                },
            },
            ProtocolJson.SerializeToUtf8(ev));

    public async ValueTask DisposeAsync()
    {
        await _channel.DisposeAsync();
        await _connection.DisposeAsync();
    }
}
