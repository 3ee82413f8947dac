using System.Text.Json;
using Mep.Protocol;
using Mep.Protocol.Messages;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Mep.Grains.Broker;

/// <summary>
/// Consumes <c>mep.results</c>: every event must come from the UEP it names (the broker-verified AMQP
/// <c>user-id</c> and the routing key, which topic permissions restrict, both belong to that UEP); anything else is
/// rejected without requeue. A valid event is acked only after the handler has completed; when the handler throws,
/// the message goes back to the queue after <see cref="BrokerOptions.HandlerFailureBackoff"/>, so the handler must
/// be idempotent (it may also see a message twice after a connection failure).
/// </summary>
public sealed class EndpointEventConsumer(
    BrokerConnection connection,
    IOptions<BrokerOptions> options,
    Func<EndpointEvent, CancellationToken, Task> handler,
    ILogger<EndpointEventConsumer>? logger = null) : IHostedService, IAsyncDisposable
{
    private readonly BrokerOptions _options = options.Value;
    private readonly ILogger _logger = logger ?? NullLogger<EndpointEventConsumer>.Instance;
    private readonly CancellationTokenSource _abort = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly InFlight _inFlight = new();
    private IChannel? _channel;
    private string? _consumerTag;
    private volatile bool _stopping;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(_stopping, this);
            if (_channel is null)
            {
                await OpenAsync(cancellationToken);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Stops taking messages, lets the handlers in progress finish (until <paramref name="cancellationToken"/>
    /// fires; then they are cancelled), and closes the channel: anything unacked returns to the queue.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(CancellationToken.None);
        try
        {
            _stopping = true;
            if (_channel is not { } channel)
            {
                return;
            }
            if (channel.IsOpen && _consumerTag is not null)
            {
                await channel.BasicCancelAsync(_consumerTag, noWait: false, CancellationToken.None);
            }
            try
            {
                await _inFlight.WhenIdleAsync().WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // Out of time: cancel the handlers; closing the channel returns their messages to the queue.
                await _abort.CancelAsync();
            }
            try
            {
                await channel.CloseAsync(CancellationToken.None);
            }
            catch (Exception e) when (e is RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.OperationInterruptedException)
            {
                // Closed already (e.g. by the broker): unacked messages went back to the queue all the same.
            }
            await channel.DisposeAsync();
            _channel = null;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(new CancellationToken(canceled: true));
        _abort.Dispose();
    }

    private async Task OpenAsync(CancellationToken ct)
    {
        var conn = await connection.GetAsync(ct);
        var channel = await conn.CreateChannelAsync(
            new CreateChannelOptions(false, false, consumerDispatchConcurrency: _options.ResultsConcurrency), ct);
        await channel.BasicQosAsync(0, _options.ResultsPrefetch, global: false, ct);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) => OnDeliveryAsync(channel, delivery);
        channel.ChannelShutdownAsync += OnChannelShutdownAsync;
        _consumerTag = await channel.BasicConsumeAsync(BrokerNames.ResultsQueue, autoAck: false, consumer, ct);
        _channel = channel;
        _logger.LogInformation("Consuming endpoint events from queue {Queue}", BrokerNames.ResultsQueue);
    }

    private async Task OnDeliveryAsync(IChannel channel, BasicDeliverEventArgs delivery)
    {
        using var inFlight = _inFlight.Enter();
        EndpointEvent ev;
        try
        {
            // The body is only valid during this call: it is parsed here, before the first await.
            ev = ProtocolJson.Deserialize<EndpointEvent>(delivery.Body.Span);
        }
        catch (JsonException e)
        {
            _logger.LogWarning("Rejected a message on {Queue} (routing key {RoutingKey}, user-id {UserId}): not an endpoint event: {Error}",
                BrokerNames.ResultsQueue, delivery.RoutingKey, delivery.BasicProperties.UserId, e.Message);
            await channel.BasicRejectAsync(delivery.DeliveryTag, requeue: false);
            return;
        }

        var userId = delivery.BasicProperties.IsUserIdPresent() ? delivery.BasicProperties.UserId : null;
        if (Verify(ev, userId, delivery.Exchange, delivery.RoutingKey) is { } problem)
        {
            _logger.LogWarning("Rejected an endpoint event naming UEP {UepId}: {Problem}", ev.UepId, problem);
            await channel.BasicRejectAsync(delivery.DeliveryTag, requeue: false);
            return;
        }

        try
        {
            await handler(ev, _abort.Token);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Handling a {Kind} event from UEP {UepId} failed; it goes back to the queue", ev.Kind, ev.UepId);
            try
            {
                await Task.Delay(_options.HandlerFailureBackoff, _abort.Token);
            }
            catch (OperationCanceledException)
            {
                // Stopping: closing the channel returns the message; a nack racing that close would be a
                // protocol error (504) on a channel the broker is already closing.
                return;
            }
            await channel.BasicNackAsync(delivery.DeliveryTag, multiple: false, requeue: true);
            return;
        }
        await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false);
    }

    /// <summary>Why an event may not be accepted from this sender, or null when it may.</summary>
    internal static string? Verify(EndpointEvent ev, string? userId, string exchange, string routingKey)
    {
        if (string.IsNullOrEmpty(ev.UepId))
        {
            return "the event names no UEP";
        }
        if (userId is null)
        {
            return "no user-id property, so the sender is unknown";
        }
        if (userId != BrokerNames.UepUser(ev.UepId))
        {
            return $"sent by broker user '{userId}', not by '{BrokerNames.UepUser(ev.UepId)}'";
        }
        if (exchange != BrokerNames.ResultsExchange)
        {
            return $"published to exchange '{exchange}', not '{BrokerNames.ResultsExchange}'";
        }
        if (routingKey != BrokerNames.ResultsRoutingKey(ev.UepId))
        {
            return $"routing key '{routingKey}', not '{BrokerNames.ResultsRoutingKey(ev.UepId)}'";
        }
        return null;
    }

    // The library recovers the channel and its consumer after a connection failure; a channel closed by a
    // channel-level error is not recovered, so it is replaced once the connection is up.
    private Task OnChannelShutdownAsync(object sender, ShutdownEventArgs e)
    {
        if (!_stopping && e.Initiator != ShutdownInitiator.Application)
        {
            _logger.LogWarning("Endpoint event channel closed ({Code} {Reason})", e.ReplyCode, e.ReplyText);
            _ = ReopenWhenNeededAsync((IChannel)sender);
        }
        return Task.CompletedTask;
    }

    private async Task ReopenWhenNeededAsync(IChannel closed)
    {
        while (!_stopping)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(2), _abort.Token);
                if (closed.IsOpen || !(await connection.GetAsync(_abort.Token)).IsOpen)
                {
                    if (closed.IsOpen)
                    {
                        return; // recovered with the connection
                    }
                    continue; // the connection is still recovering
                }
                await _gate.WaitAsync(_abort.Token);
                try
                {
                    if (_stopping || !ReferenceEquals(_channel, closed))
                    {
                        return;
                    }
                    await closed.DisposeAsync();
                    _channel = null;
                    await OpenAsync(_abort.Token);
                    return;
                }
                finally
                {
                    _gate.Release();
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e)
            {
                _logger.LogError(e, "Could not reopen the endpoint event consumer; retrying");
            }
        }
    }

    /// <summary>Counts deliveries being processed, so that stopping can wait for them.</summary>
    private sealed class InFlight
    {
        private readonly Lock _lock = new();
        private int _count;
        private TaskCompletionSource? _idle;

        public Releaser Enter()
        {
            lock (_lock)
            {
                _count++;
            }
            return new Releaser(this);
        }

        public Task WhenIdleAsync()
        {
            lock (_lock)
            {
                if (_count == 0)
                {
                    return Task.CompletedTask;
                }
                _idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                return _idle.Task;
            }
        }

        private void Exit()
        {
            lock (_lock)
            {
                if (--_count == 0 && _idle is { } idle)
                {
                    _idle = null;
                    idle.SetResult();
                }
            }
        }

        public readonly struct Releaser(InFlight owner) : IDisposable
        {
            public void Dispose() => owner.Exit();
        }
    }
}
