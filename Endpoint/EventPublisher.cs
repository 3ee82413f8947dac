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
    // One publish at a time on the channel: concurrent publishing on a shared channel is not something every
    // client version supports, and a UEP publishes a few messages per task at most.
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly byte[] _streamNamespace = System.Text.Encoding.UTF8.GetBytes(broker.StreamNamespace);
    private readonly byte[] _streamKey = System.Text.Encoding.UTF8.GetBytes(broker.StreamKey);

    public async Task PublishAsync(EndpointEvent message, string messageId, CancellationToken cancel)
    {
        var body = ProtocolJson.SerializeToUtf8(message);
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
        await _gate.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            await channel.BasicPublishAsync(broker.EventsExchange, broker.EventsRoutingKey, mandatory: true, properties, body, cancel)
                .ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }
}
