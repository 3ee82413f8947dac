using System.Net;
using Mep.Grains.Broker;
using Mep.Protocol;
using Mep.Protocol.Messages;
using Mep.Tests.Infrastructure;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Xunit;

namespace Mep.Tests.Broker;

/// <summary>What a UEP's minted broker credentials may and may not do, checked against a real broker.</summary>
[Collection(RabbitMqCollection.Name)]
public sealed class UepPermissionTests(RabbitMqNode node) : IAsyncLifetime
{
    private const ushort AccessRefused = 403;
    private const ushort PreconditionFailed = 406;

    private BrokerTestContext _broker = null!;
    private readonly string _a = BrokerTestContext.NewUepId();
    private readonly string _b = BrokerTestContext.NewUepId();
    private BrokerCredentials _credsA = null!;
    private IConnection _connA = null!;

    public async Task InitializeAsync()
    {
        _broker = await BrokerTestContext.CreateAsync(node);
        _credsA = await _broker.AddUepAsync(_a);
        await _broker.AddUepAsync(_b);
        _connA = await _broker.ConnectAsync(_credsA);
    }

    public async Task DisposeAsync()
    {
        await _connA.DisposeAsync();
        await _broker.DisposeAsync();
    }

    [Fact]
    public async Task Uep_consumes_its_own_task_queue()
    {
        await using var publisher = new TaskPublisher(_broker.Connection, Microsoft.Extensions.Options.Options.Create(_broker.Options));
        var task = SampleTask();
        await publisher.PublishAsync(_a, [task]);

        await using var channel = await _connA.CreateChannelAsync();
        var got = await channel.BasicGetAsync(BrokerNames.TaskQueue(_a), autoAck: false);
        Assert.NotNull(got);
        Assert.Equal(task.TaskId.ToString(), got.BasicProperties.MessageId);
        Assert.Equal(task.Command, ProtocolJson.Deserialize<TaskMessage>(got.Body.Span).Command);
        await channel.BasicAckAsync(got.DeliveryTag, multiple: false);
    }

    [Fact]
    public async Task Uep_cannot_consume_another_uep_task_queue()
    {
        await using var channel = await _connA.CreateChannelAsync();
        var code = await BrokerTestContext.RefusalCodeAsync(channel, async () => await
            channel.BasicConsumeAsync(BrokerNames.TaskQueue(_b), autoAck: false, new IdleConsumer(channel)));
        Assert.Equal(AccessRefused, code);
    }

    [Fact]
    public async Task Uep_cannot_publish_events_under_another_uep_routing_key()
    {
        await using var channel = await BrokerTestContext.ConfirmChannelAsync(_connA);
        var code = await BrokerTestContext.RefusalCodeAsync(channel, async () => await
            PublishEventAsync(channel, BrokerNames.EventsExchange, _broker.Options.EventsRoutingKey(_b), _b, BrokerNames.UepUser(_a)));
        Assert.Equal(AccessRefused, code);
        Assert.Equal(0u, await _broker.ReadyCountAsync(_broker.EventsQueueOf(_b)));
    }

    [Fact]
    public async Task Uep_cannot_publish_its_events_to_another_partition()
    {
        // Its own name behind another partition: the routing key would put its events in a queue read out of order.
        var own = _broker.Options.EventsRoutingKey(_a);
        var other = $"{(int.Parse(own.Split('.')[0]) + 1) % _broker.Options.EventPartitions}.uep.{_a}";
        await using var channel = await BrokerTestContext.ConfirmChannelAsync(_connA);
        var code = await BrokerTestContext.RefusalCodeAsync(channel, async () => await
            PublishEventAsync(channel, BrokerNames.EventsExchange, other, _a, BrokerNames.UepUser(_a)));
        Assert.Equal(AccessRefused, code);
    }

    [Fact]
    public async Task Uep_cannot_publish_to_the_default_exchange()
    {
        // amq.default routes to any queue by name: write on it would let a UEP fill another UEP's task queue.
        await using var channel = await BrokerTestContext.ConfirmChannelAsync(_connA);
        var code = await BrokerTestContext.RefusalCodeAsync(channel, async () => await
            PublishEventAsync(channel, "", BrokerNames.TaskQueue(_b), _a, BrokerNames.UepUser(_a)));
        Assert.Equal(AccessRefused, code);
        Assert.Equal(0u, await _broker.ReadyCountAsync(BrokerNames.TaskQueue(_b)));
    }

    [Fact]
    public async Task Uep_cannot_declare_a_queue()
    {
        await using var channel = await _connA.CreateChannelAsync();
        var code = await BrokerTestContext.RefusalCodeAsync(channel, async () => await
            channel.QueueDeclareAsync($"mep.uep.{_a}.extra", durable: false, exclusive: true, autoDelete: true));
        Assert.Equal(AccessRefused, code);
    }

    [Fact]
    public async Task Uep_cannot_delete_its_own_task_queue()
    {
        await using var channel = await _connA.CreateChannelAsync();
        var code = await BrokerTestContext.RefusalCodeAsync(channel, async () => await
            channel.QueueDeleteAsync(BrokerNames.TaskQueue(_a)));
        Assert.Equal(AccessRefused, code);
    }

    [Fact]
    public async Task Broker_refuses_a_forged_user_id()
    {
        await using var channel = await BrokerTestContext.ConfirmChannelAsync(_connA);
        var code = await BrokerTestContext.RefusalCodeAsync(channel, async () => await
            PublishEventAsync(channel, BrokerNames.EventsExchange, _broker.Options.EventsRoutingKey(_a), _a, BrokerNames.UepUser(_b)));
        Assert.Equal(PreconditionFailed, code);
        Assert.Equal(0u, await _broker.ReadyCountAsync(_broker.EventsQueueOf(_a)));
    }

    [Fact]
    public async Task Uep_event_arrives_with_its_verified_user_id_and_routing_key()
    {
        await using (var channel = await BrokerTestContext.ConfirmChannelAsync(_connA))
        {
            await PublishEventAsync(channel, BrokerNames.EventsExchange, _broker.Options.EventsRoutingKey(_a), _a, BrokerNames.UepUser(_a));
        }
        var got = await _broker.ConsumeOneAsync(_broker.EventsQueueOf(_a));
        Assert.Equal(BrokerNames.UepUser(_a), got.BasicProperties.UserId);
        Assert.Equal(_broker.Options.EventsRoutingKey(_a), got.RoutingKey);
        Assert.Equal(_a, ProtocolJson.Deserialize<EndpointEvent>(got.Body.Span).UepId);
    }

    [Fact]
    public async Task Uep_user_has_no_management_access()
    {
        using var response = await _broker.ManagementGetAsync("overview", _credsA.Username, _credsA.Password);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Minting_again_replaces_the_password()
    {
        var fresh = await _broker.Admin.MintUepCredentialsAsync(_a);
        Assert.Equal(_credsA.Username, fresh.Username);
        Assert.NotEqual(_credsA.Password, fresh.Password);
        await Assert.ThrowsAsync<BrokerUnreachableException>(() => _broker.ConnectAsync(_credsA));
        await using var connection = await _broker.ConnectAsync(fresh);
        Assert.True(connection.IsOpen);
        Assert.DoesNotContain(fresh.Password, fresh.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deleting_the_user_closes_its_connection_and_deleting_the_queue_removes_it()
    {
        await _broker.Admin.DeleteUepUserAsync(_a);
        Assert.True(await Poll.UntilAsync(() => !_connA.IsOpen, TimeSpan.FromSeconds(15)), "connection still open");
        await Assert.ThrowsAsync<BrokerUnreachableException>(() => _broker.ConnectAsync(_credsA));

        await _broker.Admin.DeleteTaskQueueAsync(_a);
        await _broker.Admin.DeleteTaskQueueAsync(_a); // idempotent
        await _broker.Admin.DeleteUepUserAsync(_a);
        var ex = await Assert.ThrowsAsync<OperationInterruptedException>(() => _broker.ReadyCountAsync(BrokerNames.TaskQueue(_a)));
        Assert.Equal((ushort)404, ex.ShutdownReason?.ReplyCode);
    }

    [Theory]
    [InlineData("a.b")]
    [InlineData("")]
    [InlineData("x/y")]
    [InlineData("(.*)")]
    public async Task Unsafe_uep_ids_are_refused(string uepId)
    {
        await Assert.ThrowsAsync<ArgumentException>(() => _broker.Admin.EnsureTaskQueueAsync(uepId));
        await Assert.ThrowsAsync<ArgumentException>(() => _broker.Admin.MintUepCredentialsAsync(uepId));
    }

    [Fact]
    public async Task Topology_setup_is_idempotent()
    {
        await _broker.Admin.EnsureVirtualHostAsync();
        await _broker.DeclareEventTopologyAsync();
        await _broker.Admin.EnsureTaskQueueAsync(_a);
        using var response = await _broker.ManagementGetAsync(
            $"exchanges/{_broker.Options.VirtualHost}/{BrokerNames.EventsExchange}/bindings/source",
            _broker.Options.AdminUser, _broker.Options.ResolveAdminPassword());
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(_broker.Options.EventPartitions, System.Text.Json.JsonDocument.Parse(body).RootElement.GetArrayLength());
    }

    internal static TaskMessage SampleTask(string command = "echo {x}") => new(
        Guid.NewGuid(), Guid.NewGuid(), FunctionKind.Shell, command, new Dictionary<string, string> { ["x"] = "1" }, 60, 4096);

    internal static ValueTask PublishEventAsync(IChannel channel, string exchange, string routingKey, string namedUep, string? userId)
    {
        var ev = new EndpointEvent(EndpointEventKind.Heartbeat, namedUep, DateTimeOffset.UtcNow,
            Heartbeat: new HeartbeatMessage(1, "host", 0, 0));
        var properties = new BasicProperties { Persistent = true, UserId = userId, Type = BrokerNames.EventMessageType };
        return channel.BasicPublishAsync(exchange, routingKey, mandatory: true, properties, ProtocolJson.SerializeToUtf8(ev));
    }

    private sealed class IdleConsumer(IChannel channel) : AsyncDefaultBasicConsumer(channel);
}
