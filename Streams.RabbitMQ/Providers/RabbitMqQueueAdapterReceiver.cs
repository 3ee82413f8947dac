using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using Orleans.Streams;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Mep.Streams.RabbitMQ.Providers;

/// <summary>
/// Reads one partition queue for the pulling agent that owns it. Deliveries are buffered as the broker pushes them
/// (at most <see cref="RabbitMqStreamOptions.Prefetch"/> unacked) and handed out by <see cref="GetQueueMessagesAsync"/>.
/// A delivery is acked only in <see cref="MessagesDeliveredAsync"/> (the agent's cache has passed it to every
/// subscriber) or after it was dead-lettered, never on receipt. If the channel dies, what it had not acked comes back
/// from the broker, possibly to another silo: subscribers see such events again (flagged redelivered) and must be
/// idempotent.
/// </summary>
internal sealed partial class RabbitMqQueueAdapterReceiver(
    string providerName,
    QueueId queueId,
    int partition,
    RabbitMqConnectionManager connections,
    RabbitMqPublisher publisher,
    RabbitMqMessageCodec codec,
    ILogger logger) : IQueueAdapterReceiver
{
    private readonly RabbitMqStreamOptions _options = connections.Options;
    private readonly string _queue = RabbitMqStreamPartitioner.QueueName(connections.Options.Exchange, partition);
    private readonly ConcurrentQueue<Delivery> _buffer = new();
    // The wait of a poll that found the buffer empty (RabbitMqStreamOptions.ReceiveWait), completed by the next delivery.
    // Its continuation runs on the delivering thread, not through the thread pool: the poll hands the event to the
    // pulling agent one wake-up sooner (every result on its way to a waiting client passes here).
    private TaskCompletionSource? _arrival;
    private readonly ConcurrentDictionary<long, Delivery> _pending = new();
    private readonly SemaphoreSlim _channelGate = new(1, 1);
    // Seeded from the clock so that numbers keep growing across agents that own this queue one after another.
    private long _sequence = DateTime.UtcNow.Ticks;
    private IChannel? _channel;
    private volatile bool _shutdown;
    // Set when the broker cancels our consumer (queue deleted, SAC handover gone wrong): the channel is open but idle.
    private volatile bool _consumerCancelled;
    private DateTime _lastUnavailableLog = DateTime.MinValue;

    public QueueId QueueId => queueId;

    private sealed record Delivery(IChannel Channel, ulong Tag, IReadOnlyBasicProperties Properties, byte[] Body,
        bool Redelivered, string RoutingKey);

    public async Task Initialize(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await EnsureConsumingAsync(cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RabbitMqUnavailableException or OperationCanceledException)
        {
            // Not fatal: every poll tries again, so the agent starts reading as soon as the broker is back.
            LogUnavailable(e);
        }
    }

    public async Task<IList<IBatchContainer>> GetQueueMessagesAsync(int maxCount)
    {
        if (_shutdown)
        {
            return [];
        }
        try
        {
            await EnsureConsumingAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (RabbitMqUnavailableException e)
        {
            LogUnavailable(e);
        }
        if (_buffer.IsEmpty && _options.ReceiveWait > TimeSpan.Zero)
        {
            await WaitForArrivalAsync(_options.ReceiveWait).ConfigureAwait(false);
        }

        var limit = maxCount < 0 ? int.MaxValue : maxCount;
        var batches = new List<IBatchContainer>();
        while (batches.Count < limit && _buffer.TryDequeue(out var delivery))
        {
            if (delivery.Channel != _channel)
            {
                continue; // Its channel is gone, so the broker has requeued it: it will arrive again.
            }
            var token = new RabbitMqSequenceToken(Interlocked.Increment(ref _sequence));
            try
            {
                var (streamId, events, requestContext) = codec.Decode(delivery.Properties, delivery.Body, delivery.Redelivered);
                _pending[token.SequenceNumber] = delivery;
                batches.Add(new RabbitMqBatchContainer(streamId, events, requestContext, token));
            }
            catch (PoisonMessageException e)
            {
                _pending[token.SequenceNumber] = delivery;
                await DeadLetterAsync(token.SequenceNumber, e.Message, subscription: null).ConfigureAwait(false);
            }
        }
        return batches;
    }

    /// <summary>Returns when a delivery arrives or <paramref name="wait"/> has passed, whichever comes first.</summary>
    private async Task WaitForArrivalAsync(TimeSpan wait)
    {
        // Not RunContinuationsAsynchronously: see _arrival. The pulling agent polls one call at a time, so there is at
        // most one waiter.
        var arrival = new TaskCompletionSource();
        Volatile.Write(ref _arrival, arrival);
        // A delivery that came between the caller's look at the buffer and the line above did not see this waiter.
        if (!_buffer.IsEmpty)
        {
            Interlocked.CompareExchange(ref _arrival, null, arrival);
            return;
        }

        using var timeout = new CancellationTokenSource(wait);
        // An expiry goes on through the thread pool, not inside the timer's callback, where the poll would dispose the
        // timer that is calling it.
        using (timeout.Token.UnsafeRegister(static state => ThreadPool.UnsafeQueueUserWorkItem(
                   static waiter => waiter.TrySetResult(), (TaskCompletionSource)state!, preferLocal: false), arrival))
        {
            await arrival.Task.ConfigureAwait(false);
        }

        Interlocked.CompareExchange(ref _arrival, null, arrival);
    }

    public async Task MessagesDeliveredAsync(IList<IBatchContainer> messages)
    {
        foreach (var message in messages)
        {
            if (message.SequenceToken is RabbitMqSequenceToken token && _pending.TryRemove(token.SequenceNumber, out var delivery))
            {
                await AckAsync(delivery).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Copies a held delivery to the dead-letter queue with the reason, then acks it. Returns false if this receiver
    /// no longer holds it (acked already, or its channel died and the broker will redeliver it).
    /// </summary>
    public async Task<bool> DeadLetterAsync(long sequenceNumber, string reason, string? subscription)
    {
        if (!_pending.TryGetValue(sequenceNumber, out var delivery))
        {
            return false;
        }
        var original = delivery.Properties;
        var headers = new Dictionary<string, object?>(original.Headers ?? new Dictionary<string, object?>())
        {
            [RabbitMqWireFormat.FailureReasonHeader] = reason,
            [RabbitMqWireFormat.FailedAtHeader] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            [RabbitMqWireFormat.SourceQueueHeader] = _queue,
        };
        if (subscription is not null)
        {
            headers[RabbitMqWireFormat.FailedSubscriptionHeader] = subscription;
        }
        // user-id is not copied: the broker would refuse it on a connection of another user.
        var properties = new BasicProperties
        {
            ContentType = original.ContentType,
            Type = original.Type,
            MessageId = original.MessageId,
            AppId = original.UserId is { } user ? $"user-id:{user}" : original.AppId,
            Persistent = true,
            Headers = headers,
        };
        try
        {
            await publisher.PublishAsync("", _options.DeadLetterQueueName, properties, delivery.Body).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RabbitMqStreamPublishException or RabbitMqUnavailableException)
        {
            // Keep holding it: unacked, it is not lost; the broker redelivers it if this channel dies.
            LogDeadLetterFailed(logger, providerName, _queue, reason, e);
            return false;
        }
        _pending.TryRemove(sequenceNumber, out _);
        LogDeadLettered(logger, providerName, _queue, original.MessageId, reason);
        await AckAsync(delivery).ConfigureAwait(false);
        return true;
    }

    public async Task Shutdown(TimeSpan timeout)
    {
        _shutdown = true;
        // A poll waiting for a delivery returns now rather than at the end of its wait.
        Interlocked.Exchange(ref _arrival, null)?.TrySetResult();
        await _channelGate.WaitAsync(timeout).ConfigureAwait(false);
        try
        {
            if (_channel is { } channel)
            {
                _channel = null;
                try
                {
                    // Closing returns every unacked delivery to the queue for the partition's next owner.
                    await channel.CloseAsync().ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    logger.LogDebug(e, "Closing the channel of {Queue} failed", _queue);
                }
                await channel.DisposeAsync().ConfigureAwait(false);
            }
            _pending.Clear();
            _buffer.Clear();
        }
        finally
        {
            _channelGate.Release();
        }
    }

    private async Task AckAsync(Delivery delivery)
    {
        // A tag is only valid on the channel that delivered it; on a newer channel it would name another message.
        if (delivery.Channel != _channel || !delivery.Channel.IsOpen)
        {
            return;
        }
        try
        {
            await delivery.Channel.BasicAckAsync(delivery.Tag, multiple: false).ConfigureAwait(false);
        }
        catch (Exception e) when (e is global::RabbitMQ.Client.Exceptions.AlreadyClosedException or IOException)
        {
            logger.LogDebug(e, "Ack on {Queue} lost with its channel; the broker will redeliver", _queue);
        }
    }

    private async Task EnsureConsumingAsync(CancellationToken ct)
    {
        if ((_channel is { IsOpen: true } && !_consumerCancelled) || _shutdown)
        {
            return;
        }
        await _channelGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if ((_channel is { IsOpen: true } && !_consumerCancelled) || _shutdown)
            {
                return;
            }
            if (_channel is { } dead)
            {
                // Everything the dead channel delivered and we did not ack is back in the queue.
                _channel = null;
                _pending.Clear();
                if (dead.IsOpen)
                {
                    await dead.CloseAsync(ct).ConfigureAwait(false);
                }
                await dead.DisposeAsync().ConfigureAwait(false);
            }
            _consumerCancelled = false;
            var connection = await connections.GetConnectionAsync(ct).ConfigureAwait(false);
            var channel = await connection.CreateChannelAsync(cancellationToken: ct).ConfigureAwait(false);
            await channel.BasicQosAsync(0, _options.Prefetch, global: false, ct).ConfigureAwait(false);
            var consumer = new AsyncEventingBasicConsumer(channel);
            consumer.ReceivedAsync += (_, ea) =>
            {
                // The body's memory belongs to the client library only for the duration of this callback.
                _buffer.Enqueue(new Delivery(channel, ea.DeliveryTag, ea.BasicProperties, ea.Body.ToArray(), ea.Redelivered, ea.RoutingKey));
                Interlocked.Exchange(ref _arrival, null)?.TrySetResult();
                return Task.CompletedTask;
            };
            consumer.UnregisteredAsync += (_, _) =>
            {
                if (!_shutdown && _channel == channel)
                {
                    _consumerCancelled = true;
                }
                return Task.CompletedTask;
            };
            _channel = channel;
            await channel.BasicConsumeAsync(_queue, autoAck: false, consumerTag: $"{providerName}-{partition}-{Guid.NewGuid():N}",
                noLocal: false, exclusive: false, arguments: null, consumer, ct).ConfigureAwait(false);
            logger.LogInformation("RabbitMQ stream provider {Provider}: consuming {Queue} for {QueueId}", providerName, _queue, queueId);
        }
        finally
        {
            _channelGate.Release();
        }
    }

    private void LogUnavailable(Exception e)
    {
        var now = DateTime.UtcNow;
        if (now - _lastUnavailableLog > TimeSpan.FromSeconds(30))
        {
            _lastUnavailableLog = now;
            logger.LogWarning("RabbitMQ stream provider {Provider}: {Queue} not consumed: {Reason}", providerName, _queue, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "RabbitMQ stream provider {Provider}: message {MessageId} from {Queue} dead-lettered: {Reason}")]
    private static partial void LogDeadLettered(ILogger logger, string provider, string queue, string? messageId, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "RabbitMQ stream provider {Provider}: could not dead-letter a message from {Queue} ({Reason}); keeping it unacked")]
    private static partial void LogDeadLetterFailed(ILogger logger, string provider, string queue, string reason, Exception e);
}
