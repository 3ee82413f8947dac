using System.Globalization;
using System.Text;
using Mep.Streams.RabbitMQ;
using RabbitMQ.Client;

namespace Mep.Bench;

/// <summary>One prepared AMQP publish: everything is built before the clock starts, so only sending is measured.</summary>
internal sealed record PreparedMessage(string RoutingKey, BasicProperties Properties, byte[] Body);

/// <summary>
/// Publishes events the way a process that is not an Orleans client does (the provider's documented wire format, as
/// MEP's user endpoints publish their results): plain JSON bodies with the stream in headers
/// <c>x-stream-namespace</c>/<c>x-stream-key</c>, routing key from <see cref="RabbitMqStreamPartitioner"/>, persistent,
/// user-id set. Each publisher has its own connection and one confirming channel, and awaits the broker's confirms a
/// batch at a time. The raw baseline sends the very same messages to its own exchange.
/// </summary>
internal sealed class ExternalPublisher : IAsyncDisposable
{
    private readonly List<(IConnection Connection, IChannel Channel)> _publishers;

    private ExternalPublisher(List<(IConnection, IChannel)> publishers) => _publishers = publishers;

    public int Count => _publishers.Count;

    public static async Task<ExternalPublisher> OpenAsync(Broker broker, int count, CancellationToken ct)
    {
        var publishers = new List<(IConnection, IChannel)>();
        for (var i = 0; i < count; i++)
        {
            var connection = await broker.ConnectAsync($"mep-bench-publisher-{i}", ct);
            // Tracking on and no rate limiter: each publish's task completes at its confirm; the batch bounds what is in flight.
            var channel = await connection.CreateChannelAsync(new CreateChannelOptions(
                publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true,
                outstandingPublisherConfirmationsRateLimiter: null), ct);
            publishers.Add((connection, channel));
        }
        return new ExternalPublisher(publishers);
    }

    /// <summary>
    /// The messages of one round, per publisher: stream <c>s{i}</c> belongs to publisher <c>i mod publishers</c> (one
    /// sender per stream keeps its order), and each publisher interleaves its streams event by event.
    /// </summary>
    public static PreparedMessage[][] Prepare(BenchSettings settings, int round, string streamNamespace, int publishers)
    {
        var work = new List<PreparedMessage>[publishers];
        for (var p = 0; p < publishers; p++)
        {
            work[p] = [];
        }
        var timestamp = new AmqpTimestamp(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var namespaceBytes = Encoding.UTF8.GetBytes(streamNamespace);
        for (var sequence = 0; sequence < settings.EventsPerStream; sequence++)
        {
            for (var s = 0; s < settings.Streams; s++)
            {
                var stream = StreamKey(s);
                var partition = RabbitMqStreamPartitioner.Partition(streamNamespace, stream, settings.Partitions);
                var properties = new BasicProperties
                {
                    Persistent = true,
                    UserId = settings.User,
                    MessageId = string.Create(CultureInfo.InvariantCulture, $"{round}-{stream}-{sequence}"),
                    Type = "mep.bench.event",
                    ContentType = "application/json",
                    Timestamp = timestamp,
                    Headers = new Dictionary<string, object?>
                    {
                        [RabbitMqWireFormat.StreamNamespaceHeader] = namespaceBytes,
                        [RabbitMqWireFormat.StreamKeyHeader] = Encoding.UTF8.GetBytes(stream),
                    },
                };
                work[s % publishers].Add(new PreparedMessage(RabbitMqStreamPartitioner.RoutingKey(partition), properties,
                    BenchEvent.Body(round, stream, sequence, settings.MessageSize)));
            }
        }
        return [.. work.Select(w => w.ToArray())];
    }

    public static string StreamKey(int stream) => string.Create(CultureInfo.InvariantCulture, $"s{stream}");

    /// <summary>Sends every prepared message to <paramref name="exchange"/>; returns when the broker confirmed all of them.</summary>
    public Task PublishAsync(string exchange, PreparedMessage[][] work, int confirmBatch, CancellationToken ct) =>
        Task.WhenAll(work.Select((messages, p) => PublishAsync(_publishers[p].Channel, exchange, messages, confirmBatch, ct)));

    private static async Task PublishAsync(IChannel channel, string exchange, PreparedMessage[] messages, int confirmBatch,
        CancellationToken ct)
    {
        var inFlight = new List<ValueTask>(confirmBatch);
        foreach (var message in messages)
        {
            // Mandatory: a message no queue takes fails its publish instead of vanishing (and the count would hang).
            inFlight.Add(channel.BasicPublishAsync(exchange, message.RoutingKey, mandatory: true, message.Properties, message.Body, ct));
            if (inFlight.Count == confirmBatch)
            {
                await AwaitAll(inFlight);
            }
        }
        await AwaitAll(inFlight);
    }

    private static async Task AwaitAll(List<ValueTask> tasks)
    {
        foreach (var task in tasks)
        {
            await task;
        }
        tasks.Clear();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (connection, channel) in _publishers)
        {
            await channel.DisposeAsync();
            await connection.DisposeAsync();
        }
    }
}
