using System.Text.Json;
using Mep.Protocol;
using Mep.Protocol.Launcher;
using Mep.Protocol.Messages;

namespace Mep.Endpoint;

/// <summary>A start document that cannot be used; the message names the cause and never echoes the document.</summary>
internal sealed class StartDocumentException(string message) : Exception(message);

/// <summary>Reads and checks the <see cref="UepStartDocument"/> the launcher writes to stdin and then closes.</summary>
internal static class StartDocument
{
    /// <summary>Far above any real document (credentials plus a rendered config), small enough to refuse junk quickly.</summary>
    public const int MaxBytes = 1 << 20;

    public static async Task<UepStartDocument> ReadAsync(Stream input, TimeSpan timeout, int maxBytes = MaxBytes)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16384];
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            int n;
            // WaitAsync: a console stream may ignore the token, and a launcher that never closes stdin must not hang us.
            while ((n = await input.ReadAsync(chunk, cts.Token).AsTask().WaitAsync(cts.Token).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + n > maxBytes)
                {
                    throw new StartDocumentException($"start document on stdin is larger than {maxBytes} bytes");
                }

                buffer.Write(chunk, 0, n);
            }
        }
        catch (OperationCanceledException)
        {
            throw new StartDocumentException($"stdin was not closed within {timeout.TotalSeconds:0} s (the launcher writes the start document and closes it)");
        }

        return Parse(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
    }

    public static UepStartDocument Parse(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IsEmpty)
        {
            throw new StartDocumentException("no start document on stdin (this program is started by mep-launcher)");
        }

        UepStartDocument doc;
        try
        {
            doc = ProtocolJson.Deserialize(utf8, ProtocolJsonContext.Default.UepStartDocument);
        }
        catch (JsonException e)
        {
            // JsonException messages name the path and position, never the values.
            throw new StartDocumentException($"start document is not valid: {e.Message}");
        }

        Validate(doc);
        return doc;
    }

    private static void Validate(UepStartDocument doc)
    {
        Require(!string.IsNullOrWhiteSpace(doc.UepId), "uep_id is empty");
        // The id names broker objects and appears in permission regexes: only a UUID is acceptable.
        Require(Guid.TryParseExact(doc.UepId, "D", out _), "uep_id is not a UUID");
        Require(!string.IsNullOrWhiteSpace(doc.EndpointId), "endpoint_id is empty");
        var b = doc.Broker;
        Require(b is not null, "broker is missing");
        Require(!string.IsNullOrWhiteSpace(b!.Host), "broker.host is empty");
        Require(b.Port is > 0 and <= 65535, "broker.port is out of range");
        Require(!string.IsNullOrEmpty(b.VirtualHost), "broker.virtual_host is empty");
        Require(!string.IsNullOrEmpty(b.Username), "broker.username is empty");
        Require(!string.IsNullOrEmpty(b.Password), "broker.password is empty");
        // The names are derived in one place (BrokerNames); a document that disagrees was built by a different
        // version of the silo, and using it would fail later with a less clear permission error.
        Require(b.TaskQueue == BrokerNames.TaskQueue(doc.UepId), $"broker.task_queue is not {BrokerNames.TaskQueue(doc.UepId)}");
        Require(b.EventsExchange == BrokerNames.EventsExchange, $"broker.events_exchange is not {BrokerNames.EventsExchange}");
        // The partition in front is the silo's to choose (it knows the partition count); the rest is fixed.
        Require(b.EventsRoutingKey.Split('.', 2) is [var partition, var rest] && partition.Length is > 0 and <= 4
                && partition.All(char.IsAsciiDigit) && rest == $"uep.{doc.UepId}",
            $"broker.events_routing_key is not {{partition}}.uep.{doc.UepId}");
        Require(b.StreamNamespace == BrokerNames.EventStreamNamespace, $"broker.stream_namespace is not {BrokerNames.EventStreamNamespace}");
        Require(b.StreamKey == doc.UepId, "broker.stream_key is not the uep_id");
    }

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new StartDocumentException(message);
        }
    }
}
