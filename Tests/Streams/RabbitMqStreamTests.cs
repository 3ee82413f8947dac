using System.Text;
using Mep.Streams.RabbitMQ;
using Mep.Streams.RabbitMQ.Providers;
using Mep.Tests.Infrastructure;
using RabbitMQ.Client;
using Xunit;

namespace Mep.Tests.Streams;

/// <summary>A node of their own: one of these tests restarts it.</summary>
[CollectionDefinition(Name)]
public sealed class StreamBrokerCollection : ICollectionFixture<RabbitMqNode>
{
    public const string Name = "RabbitMQ node for stream tests";
}

[Collection(StreamBrokerCollection.Name)]
public sealed class RabbitMqStreamTests(RabbitMqNode node)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Ten_thousand_events_on_a_hundred_streams_arrive_once_each_in_order()
    {
        await using var site = await StreamTestCluster.StartAsync(node, silos: 2);
        const int streams = 100, perStream = 100;

        await PublishAsync(site, Enumerable.Range(0, streams).Select(s => $"s{s}"), 0, perStream);

        await Poll.UntilTrue(() => Task.FromResult(site.Log.Unique == streams * perStream), Deadline,
            () => $"{site.Log.Unique} of {streams * perStream} events delivered");
        for (var s = 0; s < streams; s++)
        {
            Assert.Equal(Enumerable.Range(0, perStream), site.Log.FirstDeliveries($"s{s}"));
        }
        Assert.Equal(0, site.Log.Duplicates);
        Assert.Empty(await DrainDeadLettersAsync(site));
    }

    [Fact]
    public async Task A_poll_waiting_on_an_empty_partition_is_woken_by_each_delivery_not_by_its_wait_running_out()
    {
        // Each partition's poll waits up to ten minutes for a delivery: every event below can only arrive within the
        // deadline if its delivery wakes the poll that waits for it.
        await using var site = await StreamTestCluster.StartAsync(node, silos: 1, receiveWait: TimeSpan.FromMinutes(10));
        var stream = site.Stream("woken");
        for (var i = 0; i < 5; i++)
        {
            // One at a time, each after the last arrived: each finds its partition's poll idle and waiting.
            await stream.OnNextAsync(new TestStreamEvent(i));
            var expected = i + 1;
            await Poll.UntilTrue(() => Task.FromResult(site.Log.FirstDeliveries("woken").Count == expected), TimeSpan.FromMinutes(2),
                () => $"event {expected - 1} not delivered; delivered so far: {string.Join(',', site.Log.FirstDeliveries("woken"))}");
        }

        Assert.Equal([0, 1, 2, 3, 4], site.Log.FirstDeliveries("woken"));
    }

    [Fact]
    public async Task A_poison_event_is_dead_lettered_with_its_reason_and_its_stream_keeps_flowing()
    {
        // Give up on the poison event quickly (production keeps a minute or more).
        await using var site = await StreamTestCluster.StartAsync(node, silos: 1, maxEventDeliveryTime: TimeSpan.FromSeconds(2));
        var stream = site.Stream("poisoned");
        for (var i = 0; i < 10; i++)
        {
            await stream.OnNextAsync(new TestStreamEvent(i, Poison: i == 4));
        }

        await Poll.UntilTrue(() => Task.FromResult(site.Log.FirstDeliveries("poisoned").Count == 9), Deadline,
            () => $"delivered so far: {string.Join(',', site.Log.FirstDeliveries("poisoned"))}");
        Assert.Equal([0, 1, 2, 3, 5, 6, 7, 8, 9], site.Log.FirstDeliveries("poisoned"));
        var dead = await Poll.Until(async () => (await DrainDeadLettersAsync(site)).FirstOrDefault(), Deadline,
            () => "nothing in the dead-letter queue");
        var reason = Header(dead, RabbitMqWireFormat.FailureReasonHeader);
        Assert.Contains("kept failing", reason);
        Assert.Contains("poisoned", reason);
        Assert.Equal(RabbitMqWireFormat.OrleansContentType, dead.BasicProperties.ContentType);
        Assert.Equal($"{StreamTestCluster.Exchange}.{Mep.Streams.RabbitMQ.RabbitMqStreamPartitioner.Partition(StreamTestNames.Orleans, "poisoned", StreamTestCluster.Partitions)}",
            Header(dead, RabbitMqWireFormat.SourceQueueHeader));
    }

    [Fact]
    public async Task External_publishers_reach_subscribers_by_the_documented_wire_format_and_malformed_messages_are_dead_lettered()
    {
        await using var site = await StreamTestCluster.StartAsync(node, silos: 1);
        await using var connection = await site.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(true, true));
        var partition = RabbitMqStreamPartitioner.Partition(StreamTestNames.External, "ext-1", StreamTestCluster.Partitions);
        for (var i = 0; i < 5; i++)
        {
            await channel.BasicPublishAsync(StreamTestCluster.Exchange, RabbitMqStreamPartitioner.RoutingKey(partition, "any.suffix"),
                mandatory: true, External("ext-1", $"{i}", site.Node.AdminUser), Encoding.UTF8.GetBytes($"{i}"));
        }
        // No stream key header: cannot be delivered to anyone.
        await channel.BasicPublishAsync(StreamTestCluster.Exchange, RabbitMqStreamPartitioner.RoutingKey(partition), mandatory: true,
            new BasicProperties
            {
                ContentType = "text/plain",
                Headers = new Dictionary<string, object?> { [RabbitMqWireFormat.StreamNamespaceHeader] = Encoding.UTF8.GetBytes(StreamTestNames.External) },
            }, Encoding.UTF8.GetBytes("x"));
        // Orleans-encoded, but not from the provider's own broker user: never decoded.
        await channel.BasicPublishAsync(StreamTestCluster.Exchange, RabbitMqStreamPartitioner.RoutingKey(partition), mandatory: true,
            External("ext-1", RabbitMqWireFormat.OrleansContentType, userId: null, contentType: RabbitMqWireFormat.OrleansContentType),
            new byte[] { 1, 2, 3 });

        await Poll.UntilTrue(() => Task.FromResult(site.Log.FirstDeliveries("ext-1").Count == 5), Deadline,
            () => $"delivered: {string.Join(',', site.Log.FirstDeliveries("ext-1"))}");
        Assert.Equal([0, 1, 2, 3, 4], site.Log.FirstDeliveries("ext-1"));
        Assert.All(site.Log.Senders("ext-1"), s => Assert.Equal(site.Node.AdminUser, s));
        var dead = new List<BasicGetResult>();
        await Poll.UntilTrue(async () => { dead.AddRange(await DrainDeadLettersAsync(site)); return dead.Count >= 2; }, Deadline,
            () => $"{dead.Count} dead letters");
        var reasons = dead.Select(d => Header(d, RabbitMqWireFormat.FailureReasonHeader)).Order().ToList();
        Assert.Equal(2, reasons.Count);
        Assert.Contains("header x-stream-key is missing", reasons);
        Assert.Contains(reasons, r => r.Contains("untrusted broker user '(none)'"));
    }

    [Fact]
    public async Task Publishing_to_a_routing_key_without_a_partition_fails()
    {
        await using var site = await StreamTestCluster.StartAsync(node, silos: 1);
        // The provider itself always picks a partition; check the broker side of the contract with the raw client.
        await using var connection = await site.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(true, true));
        var e = await Assert.ThrowsAnyAsync<RabbitMQ.Client.Exceptions.PublishException>(async () =>
            await channel.BasicPublishAsync(StreamTestCluster.Exchange, "9999", mandatory: true,
                External("x", "0", site.Node.AdminUser), Encoding.UTF8.GetBytes("0")));
        Assert.True(e.IsReturn);
    }

    [Fact]
    public async Task A_publish_the_broker_refuses_fails_the_producer_and_the_provider_recovers()
    {
        await using var site = await StreamTestCluster.StartAsync(node, silos: 1);
        var stream = site.Stream("refused");
        await stream.OnNextAsync(new TestStreamEvent(0));
        // Someone deletes the exchange: the broker refuses the next publish (404 on the channel).
        await site.DeleteExchangeAsync();

        var refused = await Assert.ThrowsAsync<RabbitMqStreamPublishException>(() => stream.OnNextAsync(new TestStreamEvent(1)));
        Assert.Contains("NOT_FOUND", refused.ToString());

        // The next publish declares the topology again, and events flow to the queues that were never gone.
        await stream.OnNextAsync(new TestStreamEvent(2));
        await Poll.UntilTrue(() => Task.FromResult(site.Log.FirstDeliveries("refused").Contains(2)), Deadline, () => "event 2 never arrived");
        Assert.Equal([0, 2], site.Log.FirstDeliveries("refused"));
    }

    [Fact]
    public async Task Killing_a_silo_mid_flow_loses_nothing()
    {
        await using var site = await StreamTestCluster.StartAsync(node, silos: 3);
        var victim = site.Cluster.Silos[2];
        // Wait until every partition is read, the victim's share included, so that the kill moves partitions.
        var consumers = new Dictionary<string, List<string>>();
        await Poll.UntilTrue(async () =>
        {
            consumers = await site.PartitionConsumersAsync();
            return consumers.Count == StreamTestCluster.Partitions
                && consumers.Values.Any(c => c.Contains(victim.Name));
        }, Deadline, () => $"partitions never spread over the three silos (victim {victim.Name}): " +
            string.Join("; ", consumers.Select(c => $"{c.Key}: {string.Join(",", c.Value)}")));

        const int streams = 40, perStream = 150;
        var keys = Enumerable.Range(0, streams).Select(s => $"k{s}").ToList();
        var publishing = PublishAsync(site, keys, 0, perStream);
        await Poll.UntilTrue(() => Task.FromResult(site.Log.Unique >= streams * perStream / 4), Deadline,
            () => $"only {site.Log.Unique} delivered before the kill");
        await site.Cluster.KillSiloAsync(victim);
        await publishing;

        if (!await Poll.TryUntilAsync(() => site.Log.Unique == streams * perStream, Deadline))
        {
            var dead = await DrainDeadLettersAsync(site);
            Assert.Fail($"{site.Log.Unique} of {streams * perStream} events delivered after the kill; {dead.Count} dead letters: " +
                string.Join("; ", dead.Select(d => Header(d, RabbitMqWireFormat.FailureReasonHeader)).Distinct()));
        }
        foreach (var key in keys)
        {
            Assert.Equal(Enumerable.Range(0, perStream), site.Log.FirstDeliveries(key));
        }
        Assert.Empty(await DrainDeadLettersAsync(site));
        // Redeliveries after the kill are expected; they must stay a fraction of the flow, not a replay of it.
        Assert.True(site.Log.Duplicates < streams * perStream / 2, $"{site.Log.Duplicates} duplicates");
    }

    [Fact]
    public async Task A_broker_restart_mid_flow_loses_nothing()
    {
        await using var site = await StreamTestCluster.StartAsync(node, silos: 2);
        const int streams = 20, perStream = 100;
        var keys = Enumerable.Range(0, streams).Select(s => $"r{s}").ToList();

        await PublishAsync(site, keys, 0, perStream / 2);
        await Poll.UntilTrue(() => Task.FromResult(site.Log.Unique >= streams * perStream / 4), Deadline,
            () => $"only {site.Log.Unique} delivered before the restart");
        await node.RestartAsync();
        // Publishing while the broker is away fails; the producer retries, as any producer of durable events must.
        await PublishAsync(site, keys, perStream / 2, perStream, retryFor: Deadline);

        await Poll.UntilTrue(() => Task.FromResult(site.Log.Unique == streams * perStream), Deadline,
            () => $"{site.Log.Unique} of {streams * perStream} events delivered after the restart");
        foreach (var key in keys)
        {
            Assert.Equal(Enumerable.Range(0, perStream), site.Log.FirstDeliveries(key));
        }
    }

    /// <summary>
    /// Each stream's events in order (one at a time, each confirmed), all streams at once. With
    /// <paramref name="retryFor"/>, a publish that fails is tried again (through the shared polling loop) until it
    /// is confirmed or the time is up.
    /// </summary>
    private static Task PublishAsync(StreamTestCluster site, IEnumerable<string> keys, int from, int to, TimeSpan? retryFor = null) =>
        Task.WhenAll(keys.Select(async key =>
        {
            var stream = site.Stream(key);
            for (var i = from; i < to; i++)
            {
                var e = new TestStreamEvent(i);
                if (retryFor is not { } window)
                {
                    await stream.OnNextAsync(e);
                    continue;
                }
                Exception? last = null;
                await Poll.UntilTrue(async () =>
                {
                    try
                    {
                        await stream.OnNextAsync(e);
                        return true;
                    }
                    catch (RabbitMqStreamPublishException failed)
                    {
                        last = failed;
                        return false;
                    }
                }, window, () => $"event {i} of {key} was never confirmed: {last?.Message}");
            }
        }));

    private static BasicProperties External(string key, string messageId, string? userId, string contentType = "text/plain") => new()
    {
        ContentType = contentType,
        MessageId = messageId,
        UserId = userId,
        Headers = new Dictionary<string, object?>
        {
            [RabbitMqWireFormat.StreamNamespaceHeader] = Encoding.UTF8.GetBytes(StreamTestNames.External),
            [RabbitMqWireFormat.StreamKeyHeader] = Encoding.UTF8.GetBytes(key),
        },
    };

    private static async Task<List<BasicGetResult>> DrainDeadLettersAsync(StreamTestCluster site)
    {
        await using var connection = await site.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        var results = new List<BasicGetResult>();
        while (await channel.BasicGetAsync($"{StreamTestCluster.Exchange}.dead-letter", autoAck: true) is { } message)
        {
            results.Add(message);
        }
        return results;
    }

    private static string Header(BasicGetResult message, string name) =>
        message.BasicProperties.Headers?.TryGetValue(name, out var v) == true && v is byte[] b ? Encoding.UTF8.GetString(b) : "";
}
