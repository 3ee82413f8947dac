using RabbitMQ.Client;

namespace Mep.Endpoint;

/// <summary>Hands deliveries to the service; tells it when the broker (not we) cancelled the subscription.</summary>
internal sealed class TaskConsumer(IChannel channel, EndpointService service) : AsyncDefaultBasicConsumer(channel)
{
    public override Task HandleBasicDeliverAsync(
        string consumerTag, ulong deliveryTag, bool redelivered, string exchange, string routingKey,
        IReadOnlyBasicProperties properties, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        // The body's memory belongs to the client library once this returns: copy it.
        return service.OnDeliveryAsync(deliveryTag, properties.MessageId, body.ToArray());
    }

    public override async Task HandleBasicCancelAsync(string consumerTag, CancellationToken cancellationToken)
    {
        await base.HandleBasicCancelAsync(consumerTag, cancellationToken).ConfigureAwait(false);
        service.OnConsumerCancelledByBroker();
    }
}
