using System.Collections.Concurrent;
using System.Diagnostics;
using Mep.Grains.Broker;
using Mep.Protocol;
using Mep.Protocol.Messages;
using Mep.Tests.Infrastructure;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using Xunit;
using Xunit.Abstractions;

namespace Mep.Tests.Broker;

[Collection(RabbitMqCollection.Name)]
public sealed class TaskPublisherTests(RabbitMqNode node, ITestOutputHelper output) : IAsyncLifetime
{
    private BrokerTestContext _broker = null!;

    public async Task InitializeAsync() => _broker = await BrokerTestContext.CreateAsync(node, o => o.PublishBatchSize = 256);

    public Task DisposeAsync() => _broker.DisposeAsync().AsTask();

    [Fact]
    public async Task Publishes_a_batch_with_confirms_and_every_task_lands_in_the_queue()
    {
        const int count = 2000;
        var uep = BrokerTestContext.NewUepId();
        var credentials = await _broker.AddUepAsync(uep);
        var tasks = Enumerable.Range(0, count).Select(i => UepPermissionTests.SampleTask($"echo {i} {{x}}")).ToList();
        await using var publisher = new TaskPublisher(_broker.Connection, Microsoft.Extensions.Options.Options.Create(_broker.Options));

        var clock = Stopwatch.StartNew();
        await publisher.PublishAsync(uep, tasks);
        output.WriteLine($"{count} confirmed publishes in {clock.ElapsedMilliseconds} ms ({count / clock.Elapsed.TotalSeconds:F0}/s)");

        Assert.Equal((uint)count, await _broker.ReadyCountAsync(BrokerNames.TaskQueue(uep)));

        // Read them back as the UEP would (a consumer with a prefetch): persistent, message id = task id, JSON body.
        var received = new ConcurrentQueue<(string? MessageId, DeliveryModes Mode, TaskMessage Task)>();
        await using var connection = await _broker.ConnectAsync(credentials);
        await using var channel = await connection.CreateChannelAsync();
        await channel.BasicQosAsync(0, 500, global: false);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, d) =>
        {
            received.Enqueue((d.BasicProperties.MessageId, d.BasicProperties.DeliveryMode,
                ProtocolJson.Deserialize<TaskMessage>(d.Body.Span)));
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(BrokerNames.TaskQueue(uep), autoAck: true, consumer);
        Assert.True(await Poll.UntilAsync(() => received.Count >= count, TimeSpan.FromSeconds(60)), $"only {received.Count} of {count} consumed");

        var expected = tasks.ToDictionary(t => t.TaskId);
        foreach (var (messageId, mode, task) in received)
        {
            Assert.Equal(DeliveryModes.Persistent, mode);
            Assert.Equal(task.TaskId.ToString(), messageId);
            Assert.True(expected.Remove(task.TaskId, out var sent), $"unexpected or duplicate task {task.TaskId}");
            Assert.Equal(sent.Command, task.Command);
            Assert.Equal(sent.Args, task.Args);
        }
        Assert.Empty(expected);
    }

    [Fact]
    public async Task With_a_bundle_size_consecutive_tasks_go_together_typed_and_a_remainder_of_one_goes_alone()
    {
        var uep = BrokerTestContext.NewUepId();
        var credentials = await _broker.AddUepAsync(uep);
        var tasks = Enumerable.Range(0, 5).Select(i => UepPermissionTests.SampleTask($"echo {i} {{x}}")).ToList();
        await using var publisher = new TaskPublisher(_broker.Connection, Microsoft.Extensions.Options.Options.Create(_broker.Options));

        await publisher.PublishAsync(uep, tasks, bundleSize: 2);

        Assert.Equal(3u, await _broker.ReadyCountAsync(BrokerNames.TaskQueue(uep)));
        await using var connection = await _broker.ConnectAsync(credentials);
        await using var channel = await connection.CreateChannelAsync();
        var read = new List<(string? Type, string? MessageId, List<Guid> TaskIds)>();
        for (var i = 0; i < 3; i++)
        {
            var delivery = await channel.BasicGetAsync(BrokerNames.TaskQueue(uep), autoAck: true);
            Assert.NotNull(delivery);
            Assert.Equal(DeliveryModes.Persistent, delivery.BasicProperties.DeliveryMode);
            var type = delivery.BasicProperties.Type;
            read.Add((type, delivery.BasicProperties.MessageId, type == BrokerNames.TaskBundleType
                ? ProtocolJson.Deserialize<List<TaskMessage>>(delivery.Body.Span).Select(t => t.TaskId).ToList()
                : [ProtocolJson.Deserialize<TaskMessage>(delivery.Body.Span).TaskId]));
        }

        // In order: two bundles of two, then the fifth alone, as a task has always been sent.
        Assert.Equal(tasks.Select(t => t.TaskId), read.SelectMany(m => m.TaskIds));
        Assert.Equal([BrokerNames.TaskBundleType, BrokerNames.TaskBundleType, null], read.Select(m => m.Type));
        Assert.Equal([2, 2, 1], read.Select(m => m.TaskIds.Count));
        Assert.Equal(tasks[4].TaskId.ToString(), read[2].MessageId);
    }

    [Fact]
    public async Task A_bundle_that_fails_names_every_task_in_it()
    {
        var missing = BrokerTestContext.NewUepId();
        var tasks = Enumerable.Range(0, 5).Select(_ => UepPermissionTests.SampleTask()).ToList();
        await using var publisher = new TaskPublisher(_broker.Connection, Microsoft.Extensions.Options.Options.Create(_broker.Options));

        var ex = await Assert.ThrowsAsync<TaskPublishException>(() => publisher.PublishAsync(missing, tasks, bundleSize: 4));
        Assert.Equal(tasks.Select(t => t.TaskId).Order(), ex.FailedTaskIds.Order());
        Assert.Contains("5 of 5 tasks", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Publishing_to_a_missing_queue_throws_naming_every_task_and_the_publisher_stays_usable()
    {
        var missing = BrokerTestContext.NewUepId();
        var tasks = Enumerable.Range(0, 5).Select(_ => UepPermissionTests.SampleTask()).ToList();
        await using var publisher = new TaskPublisher(_broker.Connection, Microsoft.Extensions.Options.Options.Create(_broker.Options));

        var ex = await Assert.ThrowsAsync<TaskPublishException>(() => publisher.PublishAsync(missing, tasks));
        Assert.Equal(tasks.Select(t => t.TaskId).Order(), ex.FailedTaskIds.Order());
        Assert.Contains("does not exist", ex.Message, StringComparison.Ordinal);

        var uep = BrokerTestContext.NewUepId();
        await _broker.AddUepAsync(uep);
        await publisher.PublishAsync(uep, tasks);
        Assert.Equal((uint)tasks.Count, await _broker.ReadyCountAsync(BrokerNames.TaskQueue(uep)));
    }

    [Fact]
    public async Task Classic_queues_work_as_well()
    {
        await using var classic = await BrokerTestContext.CreateAsync(node, o => o.QueueType = BrokerQueueType.Classic);
        var uep = BrokerTestContext.NewUepId();
        await classic.AddUepAsync(uep);
        await using var publisher = new TaskPublisher(classic.Connection, Microsoft.Extensions.Options.Options.Create(classic.Options));
        await publisher.PublishAsync(uep, [UepPermissionTests.SampleTask()]);
        Assert.Equal(1u, await classic.ReadyCountAsync(BrokerNames.TaskQueue(uep)));
    }
}
