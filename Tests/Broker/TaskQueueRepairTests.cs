using Mep.Grains.Broker;
using Mep.Protocol.Messages;
using Mep.Silo.Services;
using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.Broker;

/// <summary>
/// A task queue the broker lists but runs no working process for. RabbitMQ 3.10 leaves a quorum queue so when the
/// client that declared it goes away mid-declaration (a silo killed while starting a UEP): the queue's record is
/// written, its Raft cluster never elects a leader, and the broker never answers a publish to it (with no Raft server
/// at all, it rejects them). The tests make these states on demand inside the broker, through its own internal API
/// (a queue record with no cluster; a queue process suspended), since killing a client at the right microsecond
/// cannot be done reliably.
/// </summary>
[Collection(RabbitMqCollection.Name)]
public sealed class TaskQueueRepairTests(RabbitMqNode node) : IAsyncLifetime
{
    private BrokerTestContext _broker = null!;

    public async Task InitializeAsync() => _broker = await BrokerTestContext.CreateAsync(node, o => o.PublishConfirmTimeout = TimeSpan.FromSeconds(2));

    public Task DisposeAsync() => _broker.DisposeAsync().AsTask();

    [Fact]
    public async Task A_half_declared_queue_refuses_publishes_then_is_declared_again_and_takes_them()
    {
        var uep = BrokerTestContext.NewUepId();
        await HalfDeclareAsync(BrokerNames.TaskQueue(uep));
        await _broker.Admin.MintUepCredentialsAsync(uep);
        var tasks = Enumerable.Range(0, 3).Select(_ => UepPermissionTests.SampleTask()).ToList();
        var options = Microsoft.Extensions.Options.Options.Create(_broker.Options);
        await using var publisher = new TaskPublisher(_broker.Connection, options);

        var ex = await Assert.ThrowsAsync<TaskPublishException>(() => publisher.PublishAsync(uep, tasks));
        Assert.Equal(tasks.Select(t => t.TaskId).Order(), ex.FailedTaskIds.Order());
        Assert.Contains(await _broker.Admin.GetTaskQueueStateAsync(uep), new[] { "", "down" });

        var broker = new UserEndpointBroker(_broker.Admin, publisher, options);
        Assert.True(await broker.RepairTaskQueueAsync(uep, CancellationToken.None));
        await publisher.PublishAsync(uep, tasks);
        Assert.Equal((uint)tasks.Count, await _broker.ReadyCountAsync(BrokerNames.TaskQueue(uep)));

        // Once the broker reports the new queue running, it is left alone.
        await Infrastructure.Poll.UntilTrue(async () => await _broker.Admin.GetTaskQueueStateAsync(uep) == "running", TimeSpan.FromSeconds(30),
            () => "the declared-again queue never reported running");
        Assert.False(await broker.RepairTaskQueueAsync(uep, CancellationToken.None));
        Assert.Equal((uint)tasks.Count, await _broker.ReadyCountAsync(BrokerNames.TaskQueue(uep)));
    }

    [Fact]
    public async Task Publishes_a_queue_never_confirms_time_out_and_the_next_ones_go_out_on_a_fresh_channel()
    {
        var uep = BrokerTestContext.NewUepId();
        await _broker.AddUepAsync(uep);
        var options = Microsoft.Extensions.Options.Options.Create(_broker.Options);
        await using var publisher = new TaskPublisher(_broker.Connection, options);
        await publisher.PublishAsync(uep, [UepPermissionTests.SampleTask()]);
        var channelsBefore = await SiloChannelsAsync();

        await QueueProcessAsync(BrokerNames.TaskQueue(uep), "suspend");
        var tasks = Enumerable.Range(0, 3).Select(_ => UepPermissionTests.SampleTask()).ToList();
        var ex = await Assert.ThrowsAsync<TaskPublishException>(() => publisher.PublishAsync(uep, tasks));
        Assert.Equal(tasks.Count, ex.Unconfirmed);
        Assert.Equal(tasks.Select(t => t.TaskId).Order(), ex.FailedTaskIds.Order());
        Assert.Contains("no confirm from the broker within 2 s", ex.Message, StringComparison.Ordinal);
        await QueueProcessAsync(BrokerNames.TaskQueue(uep), "resume");

        await publisher.PublishAsync(uep, tasks);
        // 1 + 3, and the first copies too if they reached the queue before their channel was dropped (a UEP drops
        // repeats by message id).
        Assert.InRange(await _broker.ReadyCountAsync(BrokerNames.TaskQueue(uep)), 4u, 7u);
        Assert.DoesNotContain(await SiloChannelsAsync(), channelsBefore.Contains);
    }

    [Fact]
    public async Task A_missing_queue_is_declared_and_a_running_one_is_not_touched()
    {
        var options = Microsoft.Extensions.Options.Options.Create(_broker.Options);
        await using var publisher = new TaskPublisher(_broker.Connection, options);
        var broker = new UserEndpointBroker(_broker.Admin, publisher, options);
        var uep = BrokerTestContext.NewUepId();
        Assert.Null(await _broker.Admin.GetTaskQueueStateAsync(uep));

        Assert.True(await broker.RepairTaskQueueAsync(uep, CancellationToken.None));
        await _broker.AddUepAsync(uep);
        await publisher.PublishAsync(uep, [UepPermissionTests.SampleTask()]);
        await Infrastructure.Poll.UntilTrue(async () => await _broker.Admin.GetTaskQueueStateAsync(uep) == "running", TimeSpan.FromSeconds(30),
            () => "the queue never reported running");
        Assert.False(await broker.RepairTaskQueueAsync(uep, CancellationToken.None));
        Assert.Equal(1u, await _broker.ReadyCountAsync(BrokerNames.TaskQueue(uep)));
    }

    /// <summary>Suspends or resumes the queue's Raft server process (sys:suspend/resume).</summary>
    private async Task QueueProcessAsync(string queue, string action)
    {
        var vhost = _broker.Options.VirtualHost;
        var output = await node.EvalAsync(
            $"{{ok, Q}} = rabbit_amqqueue:lookup(rabbit_misc:r(<<\"{vhost}\">>, queue, <<\"{queue}\">>)), " +
            $"{{RaName, _}} = amqqueue:get_pid(Q), sys:{action}(whereis(RaName)), ok.");
        Assert.Contains("ok", output, StringComparison.Ordinal);
    }

    /// <summary>The AMQP channels the broker lists for the test's connection (by its channel names).</summary>
    private async Task<IReadOnlyList<string>> SiloChannelsAsync()
    {
        var connection = await _broker.Connection.GetAsync();
        using var response = await _broker.ManagementGetAsync("channels", node.AdminUser, node.AdminPassword);
        var channels = System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray();
        return channels.Select(c => (string)c!["name"]!)
            .Where(n => n.StartsWith($"127.0.0.1:{connection.LocalPort} ", StringComparison.Ordinal)).ToList();
    }

    /// <summary>The queue's record as a quorum queue declaration writes it first, without starting its cluster.</summary>
    private async Task HalfDeclareAsync(string queue)
    {
        var vhost = _broker.Options.VirtualHost;
        var expression =
            $"QName = rabbit_misc:r(<<\"{vhost}\">>, queue, <<\"{queue}\">>), " +
            $"Q0 = amqqueue:new(QName, none, true, false, none, [{{<<\"x-queue-type\">>, longstr, <<\"quorum\">>}}], <<\"{vhost}\">>, #{{user => <<\"admin\">>}}, rabbit_quorum_queue), " +
            $"Q1 = amqqueue:set_type_state(amqqueue:set_pid(Q0, {{binary_to_atom(<<\"{vhost}_{queue}\">>), node()}}), #{{nodes => [node()]}}), " +
            "{created, _} = rabbit_amqqueue:internal_declare(Q1, false), ok.";
        var output = await node.EvalAsync(expression);
        Assert.Contains("ok", output, StringComparison.Ordinal);
    }
}
