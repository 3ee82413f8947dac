using System.Collections.Concurrent;
using Mep.Grains.Broker;
using Mep.Protocol.Messages;
using Mep.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using Xunit;

namespace Mep.Tests.Broker;

[Collection(RabbitMqCollection.Name)]
public sealed class EndpointEventConsumerTests(RabbitMqNode node) : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private BrokerTestContext _broker = null!;
    private readonly string _a = BrokerTestContext.NewUepId();
    private readonly string _b = BrokerTestContext.NewUepId();
    private IConnection _connA = null!;
    private readonly CapturingLogger<EndpointEventConsumer> _log = new();

    public async Task InitializeAsync()
    {
        _broker = await BrokerTestContext.CreateAsync(node);
        _connA = await _broker.ConnectAsync(await _broker.AddUepAsync(_a));
        await _broker.AddUepAsync(_b);
    }

    public async Task DisposeAsync()
    {
        await _connA.DisposeAsync();
        await _broker.DisposeAsync();
    }

    private EndpointEventConsumer NewConsumer(Func<EndpointEvent, CancellationToken, Task> handler) =>
        new(_broker.Connection, Microsoft.Extensions.Options.Options.Create(_broker.Options), handler, _log);

    private async Task PublishAsA(string namedUep)
    {
        await using var channel = await BrokerTestContext.ConfirmChannelAsync(_connA);
        await UepPermissionTests.PublishEventAsync(channel, BrokerNames.ResultsExchange,
            BrokerNames.ResultsRoutingKey(_a), namedUep, BrokerNames.UepUser(_a));
    }

    [Fact]
    public async Task Rejects_an_event_naming_another_uep_and_delivers_a_genuine_one()
    {
        var seen = new ConcurrentQueue<EndpointEvent>();
        await using var consumer = NewConsumer((ev, _) => { seen.Enqueue(ev); return Task.CompletedTask; });
        await consumer.StartAsync(CancellationToken.None);

        await PublishAsA(_b); // UEP A's credentials, body claims to be B
        await PublishAsA(_a);

        Assert.True(await Poll.UntilAsync(() => !seen.IsEmpty, Deadline), "the genuine event never reached the handler");
        await consumer.StopAsync(CancellationToken.None);
        Assert.Equal([_a], seen.Select(e => e.UepId));
        // Both were settled: the forged one rejected without requeue, the genuine one acked.
        Assert.Equal(0u, await _broker.ReadyCountAsync(BrokerNames.ResultsQueue));
        Assert.Contains(_log.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains(_b, StringComparison.Ordinal)
            && e.Message.Contains(BrokerNames.UepUser(_a), StringComparison.Ordinal));
    }

    [Fact]
    public async Task Rejects_an_event_without_user_id()
    {
        var seen = new ConcurrentQueue<EndpointEvent>();
        await using var consumer = NewConsumer((ev, _) => { seen.Enqueue(ev); return Task.CompletedTask; });
        await consumer.StartAsync(CancellationToken.None);

        // The admin may publish anywhere, but without a user-id no one vouches for the sender.
        var admin = await _broker.Connection.GetAsync();
        await using (var channel = await BrokerTestContext.ConfirmChannelAsync(admin))
        {
            await UepPermissionTests.PublishEventAsync(channel, BrokerNames.ResultsExchange,
                BrokerNames.ResultsRoutingKey(_a), _a, userId: null);
        }
        await PublishAsA(_a);

        Assert.True(await Poll.UntilAsync(() => !seen.IsEmpty, Deadline), "the genuine event never reached the handler");
        await consumer.StopAsync(CancellationToken.None);
        Assert.Single(seen);
        Assert.Equal(0u, await _broker.ReadyCountAsync(BrokerNames.ResultsQueue));
        Assert.Contains(_log.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("no user-id", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_failed_handler_gets_the_event_again_and_it_is_acked_after_success()
    {
        var calls = 0;
        await using var consumer = NewConsumer((_, _) =>
            Interlocked.Increment(ref calls) == 1 ? throw new InvalidOperationException("storage down") : Task.CompletedTask);
        await consumer.StartAsync(CancellationToken.None);

        await PublishAsA(_a);

        Assert.True(await Poll.UntilAsync(() => Volatile.Read(ref calls) >= 2, Deadline), "the event was not redelivered");
        await consumer.StopAsync(CancellationToken.None);
        Assert.Equal(2, calls);
        Assert.Equal(0u, await _broker.ReadyCountAsync(BrokerNames.ResultsQueue));
        Assert.Contains(_log.Entries, e => e.Level == LogLevel.Error && e.Message.Contains("goes back to the queue", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_event_whose_handler_never_finished_is_not_acked()
    {
        var started = 0;
        await using var consumer = NewConsumer(async (_, ct) =>
        {
            Interlocked.Increment(ref started);
            await Task.Delay(Timeout.Infinite, ct);
        });
        await consumer.StartAsync(CancellationToken.None);
        await PublishAsA(_a);
        Assert.True(await Poll.UntilAsync(() => Volatile.Read(ref started) == 1, Deadline), "the handler never started");

        // Stopping with no time to spare cancels the handler: the event must go back to the queue, not be acked.
        // A quorum queue takes the returned message back asynchronously, after the channel is closed: poll.
        await consumer.StopAsync(new CancellationToken(canceled: true));
        uint ready = 0;
        Assert.True(await Poll.UntilAsync(async () => (ready = await _broker.ReadyCountAsync(BrokerNames.ResultsQueue)) == 1, Deadline),
            $"expected the event back in the queue, found {ready} ready");
    }

    [Theory]
    [InlineData("uep-A", "mep.results", "uep.A", null)]
    [InlineData(null, "mep.results", "uep.A", "no user-id")]
    [InlineData("uep-B", "mep.results", "uep.A", "sent by broker user 'uep-B'")]
    [InlineData("uep-A", "mep.results", "uep.B", "routing key 'uep.B'")]
    [InlineData("uep-A", "", "uep.A", "published to exchange ''")]
    public void Verify_names_why_a_sender_is_not_trusted(string? userId, string exchange, string routingKey, string? problem)
    {
        var ev = new EndpointEvent(EndpointEventKind.Started, "A", DateTimeOffset.UtcNow);
        var actual = EndpointEventConsumer.Verify(ev, userId, exchange, routingKey);
        if (problem is null)
        {
            Assert.Null(actual);
        }
        else
        {
            Assert.NotNull(actual);
            Assert.Contains(problem, actual, StringComparison.Ordinal);
        }
    }
}
