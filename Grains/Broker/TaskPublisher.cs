using Mep.Protocol;
using Mep.Protocol.Messages;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Mep.Grains.Broker;

/// <summary>Some tasks of a batch were not confirmed by the broker; the others are safely in the queue.</summary>
public sealed class TaskPublishException(string message, IReadOnlyList<Guid> failedTaskIds, int unconfirmed, Exception? inner)
    : Exception(message, inner)
{
    /// <summary>Tasks to publish again (the UEP drops duplicates by message id, so a retry of all is safe too).</summary>
    public IReadOnlyList<Guid> FailedTaskIds { get; } = failedTaskIds;

    /// <summary>
    /// Of those, the ones the broker neither confirmed nor refused within the confirm timeout: a sign that the
    /// queue (or the channel) is not working, where a nack or a return is an answer.
    /// </summary>
    public int Unconfirmed { get; } = unconfirmed;
}

/// <summary>
/// Publishes tasks to a UEP's queue with publisher confirms. A batch is published with all messages in flight
/// before any confirm is awaited: one round trip per batch, not per message.
/// </summary>
public sealed class TaskPublisher(BrokerConnection connection, IOptions<BrokerOptions> options,
    ILogger<TaskPublisher>? logger = null) : IAsyncDisposable
{
    private readonly int _batchSize = Math.Max(1, options.Value.PublishBatchSize);
    private readonly TimeSpan _confirmTimeout = options.Value.PublishConfirmTimeout;
    private readonly ILogger _logger = logger ?? NullLogger<TaskPublisher>.Instance;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IChannel? _channel;

    /// <summary>
    /// Returns when the broker has confirmed every task (written to the durable queue). Throws
    /// <see cref="TaskPublishException"/> naming the tasks the broker nacked or returned (e.g. no such queue), or did
    /// not confirm within <see cref="BrokerOptions.PublishConfirmTimeout"/>.
    /// </summary>
    /// <param name="bundleSize">Tasks per message: above 1, consecutive tasks go together as a task bundle
    /// (<see cref="BrokerNames.TaskBundleType"/>), for a UEP that takes them.</param>
    public async Task PublishAsync(string uepId, IReadOnlyList<TaskMessage> tasks, CancellationToken ct = default, int bundleSize = 1)
    {
        var queue = BrokerNames.TaskQueue(UepIds.Check(uepId));
        var channel = await GetChannelAsync(ct);
        var messages = Messages(tasks, Math.Max(1, bundleSize));
        var failed = new List<Guid>();
        var unconfirmedInAll = 0;
        Exception? firstError = null;
        for (var start = 0; start < messages.Count; start += _batchSize)
        {
            // The confirms of one batch get a deadline of their own: one channel carries every UEP's tasks, so a
            // channel the broker stopped confirming on must be noticed and replaced, not waited on by each caller.
            using var confirmDeadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            confirmDeadline.CancelAfter(_confirmTimeout);
            var batch = messages.Skip(start).Take(_batchSize).ToList();
            var confirms = new List<Task>(batch.Count);
            foreach (var message in batch)
            {
                // The default exchange routes by queue name; mandatory makes a missing queue an error, not a silent drop.
                confirms.Add(PublishOneAsync(channel, queue, message.Properties, message.Body, confirmDeadline.Token));
            }
            var unconfirmed = 0;
            for (var i = 0; i < confirms.Count; i++)
            {
                try
                {
                    await confirms[i];
                }
                catch (Exception e) when (e is PublishException or AlreadyClosedException or OperationInterruptedException)
                {
                    failed.AddRange(batch[i].TaskIds);
                    firstError ??= e;
                }
                catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
                {
                    failed.AddRange(batch[i].TaskIds);
                    firstError ??= e;
                    unconfirmed += batch[i].TaskIds.Count;
                }
            }
            if (unconfirmed > 0)
            {
                unconfirmedInAll += unconfirmed;
                await RetireAsync(channel, uepId, unconfirmed);
                // The rest would go out on the retired channel: leave them to the retry.
                failed.AddRange(messages.Skip(start + batch.Count).SelectMany(m => m.TaskIds));
                break;
            }
        }
        if (failed.Count > 0)
        {
            var cause = firstError switch
            {
                PublishException { IsReturn: true } => $"queue {queue} does not exist (message returned)",
                OperationCanceledException => $"no confirm from the broker within {_confirmTimeout.TotalSeconds:0.#} s",
                _ => firstError!.Message,
            };
            throw new TaskPublishException(
                $"{failed.Count} of {tasks.Count} tasks for UEP {uepId} were not confirmed: {cause}", failed, unconfirmedInAll, firstError);
        }
    }

    private sealed record OutgoingMessage(IReadOnlyList<Guid> TaskIds, BasicProperties Properties, byte[] Body);

    /// <summary>A task alone keeps its id as the message id; a bundle is typed, and its tasks carry their own ids.</summary>
    private static List<OutgoingMessage> Messages(IReadOnlyList<TaskMessage> tasks, int bundleSize)
    {
        var messages = new List<OutgoingMessage>((tasks.Count + bundleSize - 1) / bundleSize);
        foreach (var chunk in tasks.Chunk(bundleSize))
        {
            var properties = new BasicProperties { Persistent = true, ContentType = "application/json" };
            byte[] body;
            if (chunk.Length == 1)
            {
                properties.MessageId = chunk[0].TaskId.ToString();
                body = ProtocolJson.SerializeToUtf8(chunk[0]);
            }
            else
            {
                properties.Type = BrokerNames.TaskBundleType;
                body = ProtocolJson.SerializeToUtf8(chunk);
            }
            messages.Add(new OutgoingMessage(chunk.Select(t => t.TaskId).ToList(), properties, body));
        }
        return messages;
    }

    // An async wrapper, so that a publish failing synchronously (closed channel) fails its own task only.
    private static async Task PublishOneAsync(IChannel channel, string queue, BasicProperties properties, byte[] body,
        CancellationToken ct) =>
        await channel.BasicPublishAsync("", queue, mandatory: true, properties, body, ct);

    /// <summary>
    /// Replaces a channel whose confirms stopped coming. The messages may still be in the queue: publishing them
    /// again is safe, since a UEP drops a task it has seen by its message id.
    /// </summary>
    private async Task RetireAsync(IChannel channel, string uepId, int unconfirmed)
    {
        _logger.LogWarning("The broker did not confirm {Unconfirmed} tasks for {UepId} within {Timeout}; replacing the publishing channel",
            unconfirmed, uepId, _confirmTimeout);
        await _gate.WaitAsync();
        try
        {
            if (!ReferenceEquals(_channel, channel))
            {
                return;
            }
            _channel = null;
        }
        finally
        {
            _gate.Release();
        }
        // In the background: even an abort waits (up to the library's continuation timeout, 20 s) for the broker's
        // close-ok, which a wedged channel may never send, and the caller has a retry to get on with.
        _ = Task.Run(async () =>
        {
            try
            {
                await channel.AbortAsync();
                await channel.DisposeAsync();
            }
            catch (Exception e)
            {
                _logger.LogDebug(e, "Closing the retired publishing channel failed");
            }
        });
    }

    private async Task<IChannel> GetChannelAsync(CancellationToken ct)
    {
        if (_channel is { IsOpen: true } open)
        {
            return open;
        }
        await _gate.WaitAsync(ct);
        try
        {
            if (_channel is { IsOpen: true } raced)
            {
                return raced;
            }
            // A channel closed by a channel error is not recovered by the library: replace it.
            if (_channel is not null)
            {
                await _channel.DisposeAsync();
                _channel = null;
            }
            var conn = await connection.GetAsync(ct);
            // Tracking makes each publish complete on its confirm. No rate limiter: the batch size bounds what is in flight.
            _channel = await conn.CreateChannelAsync(new CreateChannelOptions(
                publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true,
                outstandingPublisherConfirmationsRateLimiter: null), ct);
            return _channel;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_channel is not null)
        {
            await _channel.DisposeAsync();
            _channel = null;
        }
    }
}
