using System.Diagnostics;
using Mep.Protocol.Launcher;
using Mep.Protocol.Messages;
using Mep.Protocol.Tls;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Mep.Endpoint;

/// <summary>A delivery taken with basic.get: settle it with <see cref="BrokerLink.SettleAsync"/>.</summary>
internal sealed record TakenDelivery(ulong Tag, string? MessageId, byte[] Body);

/// <summary>
/// The UEP's connection to the broker with its own credentials: events out (publisher confirms, through
/// <see cref="EventPublisher"/>), and a control channel to read its queue's depth and take tasks it must fail.
/// Recovers a lost connection on its own; calls <c>fatal</c> when recovery takes longer than the deadline, or when the
/// broker closes a channel for a reason a retry cannot fix (access refused, queue gone).
/// </summary>
internal sealed class BrokerLink(UepStartDocument doc, TimeSpan recoveryDeadline, Action<string> fatal) : IAsyncDisposable
{
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ConnectRetryDelay = TimeSpan.FromSeconds(2);

    private readonly SemaphoreSlim _control = new(1, 1);
    private IConnection? _connection;
    private IChannel? _eventChannel;
    private IChannel? _controlChannel;
    private EventPublisher? _publisher;
    private CancellationTokenSource? _recoveryWatch;

    private BrokerCredentials Broker => doc.Broker;

    public async Task ConnectAsync(CancellationToken cancel)
    {
        _connection = await BrokerConnect.ConnectAsync(doc.Broker, $"mep-endpoint uep={doc.UepId} pid={Environment.ProcessId}", recoveryDeadline, cancel)
            .ConfigureAwait(false);
        _connection.ConnectionShutdownAsync += OnConnectionShutdownAsync;
        _connection.RecoverySucceededAsync += OnRecoverySucceededAsync;
        _eventChannel = await _connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true),
            cancel).ConfigureAwait(false);
        _eventChannel.ChannelShutdownAsync += (_, e) => OnChannelShutdown("events", e);
        _publisher = new EventPublisher(_eventChannel, Broker);
        _controlChannel = await _connection.CreateChannelAsync(cancellationToken: cancel).ConfigureAwait(false);
        _controlChannel.ChannelShutdownAsync += (_, e) => OnChannelShutdown("control", e);
    }

    /// <summary>Tasks waiting in the queue, not yet delivered to a worker.</summary>
    public async Task<uint> ReadyCountAsync(CancellationToken cancel)
    {
        await _control.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            var ok = await Control.QueueDeclarePassiveAsync(Broker.TaskQueue, cancel).ConfigureAwait(false);
            return ok.MessageCount;
        }
        catch (OperationInterruptedException e)
        {
            throw new BrokerException($"cannot read task queue {Broker.TaskQueue}: {Describe(e)}");
        }
        finally
        {
            _control.Release();
        }
    }

    /// <summary>One waiting task, unacknowledged; null when none waits.</summary>
    public async Task<TakenDelivery?> TakeAsync(CancellationToken cancel)
    {
        await _control.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            var got = await Control.BasicGetAsync(Broker.TaskQueue, autoAck: false, cancel).ConfigureAwait(false);
            return got is null ? null : new TakenDelivery(got.DeliveryTag, got.BasicProperties.MessageId, got.Body.ToArray());
        }
        finally
        {
            _control.Release();
        }
    }

    public async Task SettleAsync(ulong tag, bool ack, bool requeue)
    {
        await _control.WaitAsync().ConfigureAwait(false);
        try
        {
            if (ack)
            {
                await Control.BasicAckAsync(tag, multiple: false).ConfigureAwait(false);
            }
            else
            {
                await Control.BasicNackAsync(tag, multiple: false, requeue).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is AlreadyClosedException or OperationInterruptedException)
        {
            Log.Warn($"could not settle a delivery ({Describe(e)}); the broker requeues unacknowledged deliveries itself");
        }
        finally
        {
            _control.Release();
        }
    }

    /// <summary>Publishes and waits for the broker's confirm (<see cref="PublishTimeout"/> at most).</summary>
    public async Task PublishAsync(EndpointEvent message, CancellationToken cancel, string? messageId = null)
    {
        if (_publisher is null)
        {
            throw new AlreadyClosedException(new ShutdownEventArgs(ShutdownInitiator.Application, 0, "not connected"));
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(PublishTimeout);
        try
        {
            await _publisher.PublishAsync(message, messageId ?? Guid.NewGuid().ToString(), timeout.Token).ConfigureAwait(false);
        }
        catch (PublishException e)
        {
            throw new BrokerException($"cannot publish to exchange {Broker.EventsExchange} (routing key {Broker.EventsRoutingKey}): {(e.IsReturn ? "unroutable, no queue is bound" : "refused by the broker")}");
        }
    }

    public Task PublishIfConnectedAsync(EndpointEvent message) =>
        _publisher is not null && _connection is { IsOpen: true } ? PublishAsync(message, CancellationToken.None) : Task.CompletedTask;

    public async Task CloseAsync()
    {
        _recoveryWatch?.Cancel();
        if (_connection is not null)
        {
            await _connection.CloseAsync(CloseTimeout).ConfigureAwait(false);
        }
    }

    private IChannel Control => _controlChannel ?? throw new AlreadyClosedException(new ShutdownEventArgs(ShutdownInitiator.Application, 0, "not connected"));

    private Task OnConnectionShutdownAsync(object sender, ShutdownEventArgs e)
    {
        if (e.Initiator == ShutdownInitiator.Application)
        {
            return Task.CompletedTask;
        }

        Log.Warn($"connection to broker lost ({e.ReplyCode} {e.ReplyText}); recovering for up to {recoveryDeadline.TotalSeconds:0.###} s");
        var watch = new CancellationTokenSource();
        Interlocked.Exchange(ref _recoveryWatch, watch)?.Cancel();
        _ = Task.Delay(recoveryDeadline, watch.Token).ContinueWith(
            t =>
            {
                if (!t.IsCanceled)
                {
                    fatal($"connection to broker {Broker.Host}:{Broker.Port} lost and not recovered within {recoveryDeadline.TotalSeconds:0.###} s");
                }
            },
            TaskScheduler.Default);
        return Task.CompletedTask;
    }

    private Task OnRecoverySucceededAsync(object sender, AsyncEventArgs e)
    {
        Interlocked.Exchange(ref _recoveryWatch, null)?.Cancel();
        Log.Info("connection to broker recovered");
        return Task.CompletedTask;
    }

    /// <summary>
    /// A channel closed by the broker with a channel-level error (access refused, not found, precondition failed) is
    /// not recovered by the client and would fail the same way again. Connection loss is handled above.
    /// </summary>
    private Task OnChannelShutdown(string name, ShutdownEventArgs e)
    {
        if (e.Initiator == ShutdownInitiator.Peer && e.ReplyCode is >= 300 and < 500 and not 320)
        {
            fatal($"the broker closed the {name} channel: {e.ReplyCode} {e.ReplyText}");
        }

        return Task.CompletedTask;
    }

    public static bool IsBrokerFailure(Exception e) =>
        e is BrokerException or OperationInterruptedException or AlreadyClosedException or PublishException or TimeoutException or BrokerUnreachableException;

    /// <summary>The innermost message, which is where the client library puts the broker's reason.</summary>
    public static string Describe(Exception e)
    {
        var inner = e;
        while (inner.InnerException is not null)
        {
            inner = inner.InnerException;
        }

        return inner == e ? e.Message : $"{e.Message} ({inner.Message})";
    }

    public async ValueTask DisposeAsync()
    {
        _recoveryWatch?.Cancel();
        if (_controlChannel is not null)
        {
            await _controlChannel.DisposeAsync().ConfigureAwait(false);
        }

        if (_eventChannel is not null)
        {
            await _eventChannel.DisposeAsync().ConfigureAwait(false);
        }

        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }

        _control.Dispose();
    }
}

/// <summary>Connects with a UEP's own broker user; the manager and its workers connect the same way.</summary>
internal static class BrokerConnect
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(2);

    /// <summary>Retries an unreachable broker until <paramref name="deadline"/>; a refused login fails at once.</summary>
    public static async Task<IConnection> ConnectAsync(BrokerCredentials broker, string clientName, TimeSpan deadline, CancellationToken cancel)
    {
        var check = new ServerCertificateCheck(LoadTrust(broker));
        var factory = new ConnectionFactory
        {
            HostName = broker.Host,
            Port = broker.Port,
            VirtualHost = broker.VirtualHost,
            UserName = broker.Username,
            Password = broker.Password,
            AutomaticRecoveryEnabled = true,
            // We declare nothing (no configure permission); this recovers consumers.
            TopologyRecoveryEnabled = true,
            NetworkRecoveryInterval = TimeSpan.FromSeconds(2),
            RequestedHeartbeat = TimeSpan.FromSeconds(30),
            ClientProvidedName = clientName,
            // AMQPS: the broker's certificate must chain to the site's CA (or the system's) and name broker.Host.
            Ssl = new SslOption { Enabled = broker.Tls, ServerName = broker.Host, CertificateValidationCallback = check.Validate },
        };
        var target = $"{(broker.Tls ? "amqps" : "amqp")}://{broker.Host}:{broker.Port} vhost {broker.VirtualHost} as {broker.Username}";
        var giveUpAt = Stopwatch.GetTimestamp() + (long)(deadline.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            try
            {
                var connection = await factory.CreateConnectionAsync(cancel).ConfigureAwait(false);
                Log.Info($"connected to broker {target}");
                return connection;
            }
            catch (BrokerUnreachableException e) when (e.InnerException is AuthenticationFailureException)
            {
                throw new BrokerException($"broker refused the login {target}: {BrokerLink.Describe(e)}");
            }
            catch (BrokerUnreachableException) when (check.Refusal is { } refusal)
            {
                // Not transient: the same certificate will be refused again.
                throw new BrokerException($"TLS with broker {target} failed: {refusal}");
            }
            catch (BrokerUnreachableException e)
            {
                if (Stopwatch.GetTimestamp() > giveUpAt)
                {
                    throw new BrokerException($"cannot connect to broker {target} within {deadline.TotalSeconds:0.###} s: {BrokerLink.Describe(e)}");
                }

                Log.Warn($"cannot connect to broker {target} yet: {BrokerLink.Describe(e)}");
                await Task.Delay(RetryDelay, cancel).ConfigureAwait(false);
            }
        }
    }

    private static PrivateTrust? LoadTrust(BrokerCredentials broker)
    {
        if (!broker.Tls || string.IsNullOrEmpty(broker.CaFile))
        {
            return null;
        }

        try
        {
            return PrivateTrust.Load(broker.CaFile, "broker CA file");
        }
        catch (InvalidOperationException e)
        {
            throw new BrokerException(e.Message);
        }
    }
}

/// <summary>A broker failure with a message fit for the last line of stderr.</summary>
internal sealed class BrokerException(string message) : Exception(message);
