using System.Diagnostics;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Mep.Bench.Experiments;

/// <summary>
/// The broker baselines, on the site's own RabbitMQ node in a virtual host of their own: durable quorum queues (as
/// MEP's task queues), persistent messages, publisher confirms awaited, manual acks — what a task and its result
/// cost the broker, with nothing of MEP around it.
/// </summary>
internal sealed class RawBroker : IAsyncDisposable
{
    private readonly Broker _broker;
    private readonly IConnection _connection;

    private RawBroker(Broker broker, IConnection connection)
    {
        _broker = broker;
        _connection = connection;
    }

    public const string VirtualHost = "mep-bench-raw";

    public static async Task<RawBroker> OpenAsync(BrokerAccess access, CancellationToken ct)
    {
        var broker = new Broker(access, VirtualHost);
        await broker.EnsureVirtualHostAsync(ct);
        return new RawBroker(broker, await broker.ConnectAsync("mep-bench-raw", ct));
    }

    private async Task<IChannel> ConfirmingChannelAsync(CancellationToken ct) =>
        await _connection.CreateChannelAsync(new CreateChannelOptions(
            publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true,
            outstandingPublisherConfirmationsRateLimiter: null), ct);

    private static async Task DeclareAsync(IChannel channel, string queue, CancellationToken ct)
    {
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false,
            arguments: new Dictionary<string, object?> { ["x-queue-type"] = "quorum" }, cancellationToken: ct);
        await channel.QueuePurgeAsync(queue, ct);
    }

    private static readonly BasicProperties Persistent = new() { Persistent = true };

    /// <summary>
    /// Request/reply round trips, one at a time: the client publishes a request (confirmed), a responder consumes it,
    /// publishes a reply (confirmed) and only then acks, the client consumes the reply and acks it — as a task goes
    /// to a worker and its result comes back. Returns each round trip.
    /// </summary>
    public async Task<IReadOnlyList<TimeSpan>> RequestReplyAsync(int count, TimeSpan warmUp, Action<int> progress, CancellationToken ct)
    {
        await using var client = await ConfirmingChannelAsync(ct);
        await using var responder = await ConfirmingChannelAsync(ct);
        await DeclareAsync(client, "raw.requests", ct);
        await DeclareAsync(client, "raw.replies", ct);

        await responder.BasicQosAsync(0, 1, false, ct);
        var serve = new AsyncEventingBasicConsumer(responder);
        // Each round trip also waits (off the clock) for the responder's ack to be sent: otherwise the last one could
        // go out after the channel is closed and its number reused by the next block's channel, which the broker
        // answers by closing the connection (504 "expected 'channel.open'").
        var acked = System.Threading.Channels.Channel.CreateUnbounded<bool>();
        serve.ReceivedAsync += async (_, d) =>
        {
            await responder.BasicPublishAsync("", "raw.replies", true, Persistent, d.Body.ToArray(), ct);
            await responder.BasicAckAsync(d.DeliveryTag, false, ct);
            await acked.Writer.WriteAsync(true, ct);
        };
        await responder.BasicConsumeAsync("raw.requests", false, serve, ct);

        var replies = System.Threading.Channels.Channel.CreateUnbounded<ulong>();
        var receive = new AsyncEventingBasicConsumer(client);
        receive.ReceivedAsync += (_, d) => replies.Writer.WriteAsync(d.DeliveryTag, ct).AsTask();
        await client.BasicConsumeAsync("raw.replies", false, receive, ct);

        var body = new byte[64];
        async Task<TimeSpan> RoundTripAsync()
        {
            var clock = Stopwatch.StartNew();
            await client.BasicPublishAsync("", "raw.requests", true, Persistent, body, ct);
            var tag = await replies.Reader.ReadAsync(ct).AsTask().WaitAsync(TimeSpan.FromSeconds(30), ct);
            var elapsed = clock.Elapsed;
            await client.BasicAckAsync(tag, false, ct);
            await acked.Reader.ReadAsync(ct).AsTask().WaitAsync(TimeSpan.FromSeconds(30), ct);
            return elapsed;
        }

        // Warmed up like the MEP side, so that both are measured past the JIT's first work.
        var warming = Stopwatch.StartNew();
        while (warming.Elapsed < warmUp)
        {
            await RoundTripAsync();
        }

        var samples = new List<TimeSpan>(count);
        for (var i = 0; i < count; i++)
        {
            samples.Add(await RoundTripAsync());
            progress(i + 1);
        }
        return samples;
    }

    /// <summary>
    /// Messages per second through publish-with-confirms (batches of 256 awaited) → consume → ack, for
    /// <paramref name="duration"/>: messages acked within the window over its length.
    /// </summary>
    public async Task<double> PipelineRateAsync(TimeSpan duration, CancellationToken ct)
    {
        await using var publisher = await ConfirmingChannelAsync(ct);
        await using var consumer = await _connection.CreateChannelAsync(cancellationToken: ct);
        await DeclareAsync(publisher, "raw.pipeline", ct);
        await consumer.BasicQosAsync(0, 256, false, ct);
        long acked = 0;
        var take = new AsyncEventingBasicConsumer(consumer);
        take.ReceivedAsync += async (_, d) =>
        {
            await consumer.BasicAckAsync(d.DeliveryTag, false, ct);
            Interlocked.Increment(ref acked);
        };
        var tag = await consumer.BasicConsumeAsync("raw.pipeline", false, take, ct);

        var body = new byte[256];
        var clock = Stopwatch.StartNew();
        var batch = new List<ValueTask>(256);
        while (clock.Elapsed < duration)
        {
            for (var i = 0; i < 256; i++)
            {
                batch.Add(publisher.BasicPublishAsync("", "raw.pipeline", true, Persistent, body, ct));
            }
            foreach (var confirm in batch)
            {
                await confirm;
            }
            batch.Clear();
        }
        var done = Interlocked.Read(ref acked);
        var seconds = clock.Elapsed.TotalSeconds;
        await consumer.BasicCancelAsync(tag, cancellationToken: ct);
        return done / seconds;
    }

    public async ValueTask DisposeAsync()
    {
        await _connection.DisposeAsync();
        try
        {
            await _broker.DeleteVirtualHostAsync(CancellationToken.None);
        }
        finally
        {
            _broker.Dispose();
        }
    }
}
