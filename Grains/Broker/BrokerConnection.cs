using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Mep.Grains.Broker;

/// <summary>
/// The silo's one AMQP connection, as the admin user in MEP's virtual host. Opened on first use (and again on a
/// later call if opening failed); once open, the client library recovers it, its channels and consumers after a
/// network failure or broker restart.
/// </summary>
public sealed class BrokerConnection(IOptions<BrokerOptions> options, ILogger<BrokerConnection>? logger = null)
    : IAsyncDisposable
{
    private readonly BrokerOptions _options = options.Value;
    private readonly ILogger _logger = logger ?? NullLogger<BrokerConnection>.Instance;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IConnection? _connection;
    private bool _disposed;

    public async Task<IConnection> GetAsync(CancellationToken ct = default)
    {
        if (_connection is { } open)
        {
            return open;
        }
        await _gate.WaitAsync(ct);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_connection is null)
            {
                var factory = new ConnectionFactory
                {
                    Ssl = _options.AmqpTls(out var check),
                    HostName = _options.Host,
                    Port = _options.AmqpPort,
                    VirtualHost = _options.VirtualHost,
                    UserName = _options.AdminUser,
                    Password = _options.ResolveAdminPassword(),
                    ClientProvidedName = _options.ClientName,
                    AutomaticRecoveryEnabled = true,
                    TopologyRecoveryEnabled = true,
                    NetworkRecoveryInterval = TimeSpan.FromSeconds(2),
                };
                IConnection connection;
                try
                {
                    connection = await factory.CreateConnectionAsync(ct);
                }
                catch (RabbitMQ.Client.Exceptions.BrokerUnreachableException e) when (check.Refusal is { } refusal)
                {
                    throw new RabbitMQ.Client.Exceptions.BrokerUnreachableException(
                        new System.Security.Authentication.AuthenticationException($"TLS with the broker {_options.Host}:{_options.AmqpPort} failed: {refusal}", e));
                }

                connection.ConnectionShutdownAsync += OnShutdownAsync;
                connection.RecoverySucceededAsync += OnRecoveredAsync;
                _connection = connection;
                _logger.LogInformation("Connected to RabbitMQ at {Host}:{Port} ({Transport}), vhost {VirtualHost}",
                    _options.Host, _options.AmqpPort, _options.Tls ? "amqps" : "amqp", _options.VirtualHost);
            }
            return _connection;
        }
        finally
        {
            _gate.Release();
        }
    }

    private Task OnShutdownAsync(object sender, ShutdownEventArgs e)
    {
        if (e.Initiator != ShutdownInitiator.Application)
        {
            _logger.LogWarning("RabbitMQ connection lost ({Reason}); recovering", e.ReplyText);
        }
        return Task.CompletedTask;
    }

    private Task OnRecoveredAsync(object sender, AsyncEventArgs e)
    {
        _logger.LogInformation("RabbitMQ connection recovered");
        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync();
        try
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            if (_connection is not null)
            {
                await _connection.CloseAsync();
                await _connection.DisposeAsync();
                _connection = null;
            }
        }
        finally
        {
            _gate.Release();
        }
    }
}
