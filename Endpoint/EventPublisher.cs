using Mep.Protocol;
using Mep.Protocol.Launcher;
using Mep.Protocol.Messages;
using RabbitMQ.Client;

namespace Mep.Endpoint;

/// <summary>
/// Publishes <see cref="EndpointEvent"/>s to the cluster's event stream (exchange <c>mep.events</c>, in the wire
/// format of the silo's stream provider: stream headers, JSON body) on a channel with publisher confirms: a call
/// returns only once the broker has taken responsibility for the message, and throws if it was refused or
/// unroutable (mandatory), so a task is acked only after its result is safe.
/// </summary>
internal sealed class EventPublisher(IChannel channel, BrokerCredentials broker)
{
    private readonly byte[] _streamNamespace = System.Text.Encoding.UTF8.GetBytes(broker.StreamNamespace);
    private readonly byte[] _streamKey = System.Text.Encoding.UTF8.GetBytes(broker.StreamKey);

    public async Task PublishAsync(EndpointEvent message, string messageId, CancellationToken cancel)
    {
        var body = ProtocolJson.SerializeToUtf8(message, ProtocolJsonContext.Default.EndpointEvent);
        var properties = new BasicProperties
        {
            Persistent = true,
            // The broker rejects a user-id that is not the connection's user, so the silo can trust it.
            UserId = broker.Username,
            MessageId = messageId,
            Type = BrokerNames.EventMessageType,
            ContentType = "application/json",
            Timestamp = new AmqpTimestamp(message.SentAt.ToUnixTimeSeconds()),
            Headers = new Dictionary<string, object?>
            {
                [BrokerNames.StreamNamespaceHeader] = _streamNamespace,
                [BrokerNames.StreamKeyHeader] = _streamKey,
            },
        };
        // Not one at a time: RabbitMQ.Client 7 takes concurrent publishes on a channel with confirmation tracking, each
        // call waiting for its own confirm (the silo's task publisher relies on it too), so the task slots of a worker
        // do not queue behind each other's confirms. Frames go out in call order, so events keep their order.
        await channel.BasicPublishAsync(broker.EventsExchange, broker.EventsRoutingKey, mandatory: true, properties, body, cancel)
            .ConfigureAwait(false);
    }
}
