using RabbitMQ.Client;

namespace Mep.Endpoint.Worker;

/// <summary>Hands deliveries to the worker; tells it when the broker (not we) cancelled the subscription.</summary>
internal sealed class WorkerConsumer(IChannel channel, WorkerService service) : AsyncDefaultBasicConsumer(channel)
{
    public override Task HandleBasicDeliverAsync(
        string consumerTag, ulong deliveryTag, bool redelivered, string exchange, string routingKey,
        IReadOnlyBasicProperties properties, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        // The body's memory belongs to the client library once this returns: copy it.
        return service.OnDeliveryAsync(deliveryTag, redelivered, properties.MessageId, properties.Type, body.ToArray());
    }

    public override async Task HandleBasicCancelAsync(string consumerTag, CancellationToken cancellationToken)
    {
        await base.HandleBasicCancelAsync(consumerTag, cancellationToken).ConfigureAwait(false);
        service.OnConsumerCancelledByBroker();
    }
}
