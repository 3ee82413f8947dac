using System.Text;
using Mep.Streams.RabbitMQ;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Mep.Bench;

/// <summary>
/// The raw RabbitMQ baseline: the provider's topology without Orleans. A topic exchange with one durable queue per
/// partition (same count, queue type and arguments as the provider declares), one connection with a channel per
/// queue, the same prefetch, manual acks one message at a time; each delivery is decoded and counted exactly as the
/// provider's subscriber grain does, then acked.
/// </summary>
internal sealed class RawBaseline : IAsyncDisposable
{
    public const string Exchange = "mep-bench.raw";

    private readonly IConnection _connection;
    private readonly List<(IChannel Channel, string Queue, string? ConsumerTag)> _consumers = [];
    private readonly ushort _prefetch;
    private readonly DeliveryCounter _counter;

    private RawBaseline(IConnection connection, ushort prefetch, DeliveryCounter counter)
    {
        _connection = connection;
        _prefetch = prefetch;
        _counter = counter;
    }

    public IEnumerable<string> Queues => _consumers.Select(c => c.Queue);

    public static async Task<RawBaseline> StartAsync(Broker broker, BenchSettings settings, DeliveryCounter counter, CancellationToken ct)
    {
        var connection = await broker.ConnectAsync("mep-bench-raw-consumer", ct);
        var raw = new RawBaseline(connection, settings.Prefetch, counter);
        try
        {
            await using (var setup = await connection.CreateChannelAsync(cancellationToken: ct))
            {
                await setup.ExchangeDeclareAsync(Exchange, ExchangeType.Topic, durable: true, autoDelete: false, cancellationToken: ct);
                for (var p = 0; p < settings.Partitions; p++)
                {
                    var queue = RabbitMqStreamPartitioner.QueueName(Exchange, p);
                    await setup.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, arguments: new Dictionary<string, object?>
                    {
                        ["x-queue-type"] = settings.QueueType == RabbitMqQueueType.Quorum ? "quorum" : "classic",
                        ["x-single-active-consumer"] = true,
                    }, cancellationToken: ct);
                    // Leftovers of an aborted run would only be counted as stale, but they would cost time: drop them.
                    await setup.QueuePurgeAsync(queue, ct);
                    await setup.QueueBindAsync(queue, Exchange, $"{p}.#", cancellationToken: ct);
                }
            }
            for (var p = 0; p < settings.Partitions; p++)
            {
                var channel = await connection.CreateChannelAsync(cancellationToken: ct);
                raw._consumers.Add((channel, RabbitMqStreamPartitioner.QueueName(Exchange, p), null));
            }
            await raw.ResumeAsync(ct);
            return raw;
        }
        catch
        {
            await raw.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops consuming (for a drain measurement: the queues fill up while paused).</summary>
    public async Task PauseAsync(CancellationToken ct)
    {
        for (var i = 0; i < _consumers.Count; i++)
        {
            if (_consumers[i].ConsumerTag is { } tag)
            {
                await _consumers[i].Channel.BasicCancelAsync(tag, cancellationToken: ct);
                _consumers[i] = _consumers[i] with { ConsumerTag = null };
            }
        }
    }

    public async Task ResumeAsync(CancellationToken ct)
    {
        for (var i = 0; i < _consumers.Count; i++)
        {
            if (_consumers[i].ConsumerTag is null)
            {
                var (channel, queue, _) = _consumers[i];
                _consumers[i] = _consumers[i] with { ConsumerTag = await ConsumeAsync(channel, queue, ct) };
            }
        }
    }

    private async Task<string> ConsumeAsync(IChannel channel, string queue, CancellationToken ct)
    {
        var counter = _counter;
        await channel.BasicQosAsync(0, _prefetch, global: false, ct);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += async (_, delivery) =>
        {
            var key = delivery.BasicProperties.Headers?.TryGetValue(RabbitMqWireFormat.StreamKeyHeader, out var raw) == true && raw is byte[] bytes
                ? Encoding.UTF8.GetString(bytes)
                : throw new InvalidOperationException($"a message on {queue} has no {RabbitMqWireFormat.StreamKeyHeader} header");
            var e = BenchEvent.Parse(delivery.Body.Span);
            counter.Record(key, e.Round, e.Sequence);
            await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false);
        };
        return await channel.BasicConsumeAsync(queue, autoAck: false, consumer, ct);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (channel, _, _) in _consumers)
        {
            await channel.DisposeAsync();
        }
        await _connection.DisposeAsync();
    }
}
