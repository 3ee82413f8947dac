using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Mep.Streams.RabbitMQ.Providers;

/// <summary>The broker did not take a stream event: nacked, unroutable, or the connection failed before its confirm.</summary>
public sealed class RabbitMqStreamPublishException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Publishes on one channel with publisher confirms and confirm tracking: each call returns when the broker has
/// the message (written to every queue it routes to, durable ones on disk), so callers may publish concurrently
/// and the confirms of all calls in flight share round trips. A channel that fails is replaced on the next call.
/// </summary>
internal sealed class RabbitMqPublisher(RabbitMqConnectionManager connections, ILogger logger) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IChannel? _channel;

    public async Task PublishAsync(string exchange, string routingKey, BasicProperties properties, ReadOnlyMemory<byte> body,
        CancellationToken ct = default)
    {
        IChannel channel;
        try
        {
            channel = await GetChannelAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RabbitMqUnavailableException or AlreadyClosedException or OperationInterruptedException or IOException)
        {
            // No channel to publish on (broker away, connection lost while opening one): still a failed publish.
            throw new RabbitMqStreamPublishException($"publishing to exchange '{exchange}' failed: {e.Message}", e);
        }
        try
        {
            // Mandatory: a message no queue takes (a routing key with no partition behind it) comes back as an error.
            await channel.BasicPublishAsync(exchange, routingKey, mandatory: true, properties, body, ct).ConfigureAwait(false);
        }
        catch (PublishException e)
        {
            throw new RabbitMqStreamPublishException(e.IsReturn
                ? $"no queue took the message sent to exchange '{exchange}' with routing key '{routingKey}'"
                : $"the broker refused the message sent to exchange '{exchange}' with routing key '{routingKey}'", e);
        }
        catch (Exception e) when (e is AlreadyClosedException or OperationInterruptedException or IOException)
        {
            throw new RabbitMqStreamPublishException($"publishing to exchange '{exchange}' failed: {e.Message}", e);
        }
    }

    private async Task<IChannel> GetChannelAsync(CancellationToken ct)
    {
        if (_channel is { IsOpen: true } open)
        {
            return open;
        }
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_channel is { IsOpen: true } raced)
            {
                return raced;
            }
            var redeclare = false;
            if (_channel is not null)
            {
                logger.LogDebug("Replacing a closed publishing channel ({Reason})", _channel.CloseReason?.ReplyText);
                // 404: the exchange is gone (deleted by hand, or the broker lost its definitions): declare it again.
                redeclare = _channel.CloseReason?.ReplyCode == 404;
                await _channel.DisposeAsync().ConfigureAwait(false);
                _channel = null;
            }
            var connection = await connections.GetConnectionAsync(ct).ConfigureAwait(false);
            if (redeclare)
            {
                await RabbitMqTopology.DeclareAsync(connection, connections.Options, ct).ConfigureAwait(false);
            }
            var confirms = connections.Options.PublisherConfirms;
            _channel = await connection.CreateChannelAsync(new CreateChannelOptions(
                publisherConfirmationsEnabled: confirms, publisherConfirmationTrackingEnabled: confirms,
                outstandingPublisherConfirmationsRateLimiter: null), ct).ConfigureAwait(false);
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
            await _channel.DisposeAsync().ConfigureAwait(false);
            _channel = null;
        }
    }
}
