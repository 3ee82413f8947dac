using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace Mep.Streams.RabbitMQ.Providers;

/// <summary>The broker could not be reached; the next attempt is throttled (see <see cref="RabbitMqStreamOptions.MaxReconnectDelay"/>).</summary>
public sealed class RabbitMqUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The provider's one AMQP connection per silo or client, shared by its publisher and receivers. The client
/// library's automatic recovery is off on purpose: a recovered channel numbers deliveries afresh, and an ack for
/// an old delivery tag would then ack the wrong message. Instead a lost connection is replaced on next use, and
/// whoever held a channel on it opens a new one (deliveries not acked on the old one are redelivered by the broker).
/// Each new connection declares the topology first, so a broker that lost its state gets it back.
/// </summary>
internal sealed class RabbitMqConnectionManager(string providerName, RabbitMqStreamOptions options, ILogger logger)
    : IAsyncDisposable
{
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(200);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IConnection? _connection;
    private DateTime _nextAttempt = DateTime.MinValue;
    private TimeSpan _retryDelay = FirstRetryDelay;
    private bool _disposed;

    public RabbitMqStreamOptions Options => options;

    public async Task<IConnection> GetConnectionAsync(CancellationToken ct = default)
    {
        if (_connection is { IsOpen: true } open)
        {
            return open;
        }
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_connection is { IsOpen: true } raced)
            {
                return raced;
            }
            var now = DateTime.UtcNow;
            if (now < _nextAttempt)
            {
                throw new RabbitMqUnavailableException(
                    $"RabbitMQ stream provider '{providerName}': broker {options.HostName}:{options.Port} unreachable; next attempt in {(_nextAttempt - now).TotalMilliseconds:F0} ms");
            }
            if (_connection is not null)
            {
                await _connection.DisposeAsync().ConfigureAwait(false);
                _connection = null;
            }
            try
            {
                var connection = await CreateFactory().CreateConnectionAsync(ct).ConfigureAwait(false);
                try
                {
                    await RabbitMqTopology.DeclareAsync(connection, options, ct).ConfigureAwait(false);
                }
                catch
                {
                    await connection.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
                connection.ConnectionShutdownAsync += (_, e) =>
                {
                    if (e.Initiator != ShutdownInitiator.Application)
                    {
                        logger.LogWarning("RabbitMQ stream provider {Provider}: connection lost ({Reason}); reconnecting on next use",
                            providerName, e.ReplyText);
                    }
                    return Task.CompletedTask;
                };
                _connection = connection;
                _retryDelay = FirstRetryDelay;
                logger.LogInformation("RabbitMQ stream provider {Provider}: connected to {Host}:{Port} vhost {VirtualHost} as {User}",
                    providerName, options.HostName, options.Port, options.VirtualHost, options.UserName);
                return connection;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _nextAttempt = DateTime.UtcNow + _retryDelay;
                _retryDelay = TimeSpan.FromTicks(Math.Min(_retryDelay.Ticks * 2, options.MaxReconnectDelay.Ticks));
                throw new RabbitMqUnavailableException(
                    $"RabbitMQ stream provider '{providerName}': cannot connect to {options.HostName}:{options.Port}: {e.Message}", e);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private ConnectionFactory CreateFactory()
    {
        var factory = new ConnectionFactory
        {
            HostName = options.HostName,
            Port = options.Port,
            VirtualHost = options.VirtualHost,
            UserName = options.UserName,
            Password = options.ResolvePassword(),
            ClientProvidedName = options.ClientProvidedName,
            AutomaticRecoveryEnabled = false,
            TopologyRecoveryEnabled = false,
        };
        options.ConfigureConnectionFactory?.Invoke(factory);
        return factory;
    }

    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            _disposed = true;
            if (_connection is not null)
            {
                try
                {
                    await _connection.CloseAsync().ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    logger.LogDebug(e, "RabbitMQ stream provider {Provider}: closing the connection failed", providerName);
                }
                await _connection.DisposeAsync().ConfigureAwait(false);
                _connection = null;
            }
        }
        finally
        {
            _gate.Release();
        }
    }
}
