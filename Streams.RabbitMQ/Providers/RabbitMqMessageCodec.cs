using System.Text;
using Orleans.Runtime;
using Orleans.Serialization;
using RabbitMQ.Client;

namespace Mep.Streams.RabbitMQ.Providers;

/// <summary>A message that can never be delivered as it is; it goes to the dead-letter queue with <see cref="Exception.Message"/>.</summary>
internal sealed class PoisonMessageException(string reason, Exception? inner = null) : Exception(reason, inner);

/// <summary>Turns stream events into AMQP messages and back (the format README.md documents).</summary>
internal sealed class RabbitMqMessageCodec(Serializer serializer, RabbitMqStreamOptions options)
{
    private readonly HashSet<string> _trusted = [options.UserName, .. options.TrustedOrleansPublishers];

    public (BasicProperties Properties, byte[] Body) Encode(StreamId streamId, List<object> events, Dictionary<string, object>? requestContext)
    {
        var body = serializer.SerializeToArray(new RabbitMqOrleansPayload { Events = events, RequestContext = requestContext });
        var properties = new BasicProperties
        {
            ContentType = RabbitMqWireFormat.OrleansContentType,
            MessageId = Guid.NewGuid().ToString("N"),
            // The broker checks user-id against the connection's user, which is what lets receivers trust it.
            UserId = options.UserName,
            Persistent = options.PersistentMessages,
            Timestamp = new AmqpTimestamp(DateTimeOffset.UtcNow.ToUnixTimeSeconds()),
            Headers = new Dictionary<string, object?>
            {
                [RabbitMqWireFormat.StreamNamespaceHeader] = streamId.Namespace.ToArray(),
                [RabbitMqWireFormat.StreamKeyHeader] = streamId.Key.ToArray(),
            },
        };
        return (properties, body);
    }

    public (StreamId StreamId, List<object> Events, Dictionary<string, object>? RequestContext) Decode(
        IReadOnlyBasicProperties properties, byte[] body, bool redelivered)
    {
        var streamNamespace = HeaderBytes(properties, RabbitMqWireFormat.StreamNamespaceHeader);
        var streamKey = HeaderBytes(properties, RabbitMqWireFormat.StreamKeyHeader);
        if (streamKey.Length == 0)
        {
            throw new PoisonMessageException($"header {RabbitMqWireFormat.StreamKeyHeader} is empty");
        }
        var streamId = StreamId.Create(streamNamespace, streamKey);
        if (properties.ContentType != RabbitMqWireFormat.OrleansContentType)
        {
            return (streamId, [ToStreamMessage(properties, body, redelivered)], null);
        }
        if (properties.UserId is not { } user || !_trusted.Contains(user))
        {
            throw new PoisonMessageException(
                $"Orleans-encoded message from untrusted broker user '{properties.UserId ?? "(none)"}' not decoded");
        }
        try
        {
            var payload = serializer.Deserialize<RabbitMqOrleansPayload>(body)
                ?? throw new PoisonMessageException("body is an empty Orleans stream batch");
            return (streamId, payload.Events, payload.RequestContext);
        }
        catch (Exception e)
        {
            throw new PoisonMessageException($"body is not an Orleans stream batch: {e.Message}", e);
        }
    }

    private static RabbitMqStreamMessage ToStreamMessage(IReadOnlyBasicProperties p, byte[] body, bool redelivered)
    {
        var headers = new Dictionary<string, string>(StringComparer.Ordinal);
        if (p.Headers is { } raw)
        {
            foreach (var (name, value) in raw)
            {
                if (value is byte[] bytes && name is not RabbitMqWireFormat.StreamNamespaceHeader and not RabbitMqWireFormat.StreamKeyHeader)
                {
                    headers[name] = Encoding.UTF8.GetString(bytes);
                }
            }
        }
        DateTimeOffset? timestamp = p.IsTimestampPresent() ? DateTimeOffset.FromUnixTimeSeconds(p.Timestamp.UnixTime) : null;
        return new RabbitMqStreamMessage(body, p.ContentType, p.Type, p.MessageId, p.UserId, timestamp, headers, redelivered);
    }

    private static byte[] HeaderBytes(IReadOnlyBasicProperties properties, string name) =>
        properties.Headers?.TryGetValue(name, out var value) == true
            ? value as byte[] ?? throw new PoisonMessageException($"header {name} is not a string")
            : throw new PoisonMessageException($"header {name} is missing");
}
