using System.IO.Pipes;
using System.Text;
using System.Text.Json.Nodes;
using Mep.Endpoint;
using Mep.Protocol;
using Mep.Protocol.Launcher;
using Mep.Protocol.Messages;
using Xunit;

namespace Mep.Tests.Endpoint;

public sealed class StartDocumentTests
{
    internal static UepStartDocument ValidDocument(string? uepId = null)
    {
        var id = uepId ?? Guid.NewGuid().ToString();
        return new UepStartDocument(
            id, Guid.NewGuid().ToString(),
            new BrokerCredentials("127.0.0.1", 5672, "mep", BrokerNames.UepUser(id), "secret-password",
                BrokerNames.TaskQueue(id), BrokerNames.EventsExchange, BrokerNames.EventsRoutingKey(5, id),
                BrokerNames.EventStreamNamespace, id),
            10, 300, new JsonObject { ["engine"] = new JsonObject { ["max_workers_per_node"] = 2 } },
            TaskLimits.Default, []);
    }

    private static async Task<UepStartDocument> Read(byte[] bytes, int max = StartDocument.MaxBytes) =>
        await StartDocument.ReadAsync(new MemoryStream(bytes), TimeSpan.FromSeconds(10), max);

    [Fact]
    public async Task Valid_document_round_trips()
    {
        var doc = ValidDocument();
        var read = await Read(ProtocolJson.SerializeToUtf8(doc));

        Assert.Equal(doc.UepId, read.UepId);
        Assert.Equal(doc.Broker, read.Broker);
        Assert.Equal(2, EndpointSettings.FromStartDocument(read).MaxWorkers);
    }

    [Fact]
    public async Task Oversized_document_is_refused()
    {
        var e = await Assert.ThrowsAsync<StartDocumentException>(() => Read(new byte[5000], max: 4096));
        Assert.Equal("start document on stdin is larger than 4096 bytes", e.Message);
    }

    [Fact]
    public async Task Malformed_and_empty_documents_are_refused()
    {
        var bad = await Assert.ThrowsAsync<StartDocumentException>(() => Read(Encoding.UTF8.GetBytes("{\"uep_id\": ")));
        var empty = await Assert.ThrowsAsync<StartDocumentException>(() => Read([]));

        Assert.StartsWith("start document is not valid", bad.Message);
        Assert.StartsWith("no start document on stdin", empty.Message);
    }

    [Fact]
    public async Task Errors_never_echo_the_password()
    {
        var json = ProtocolJson.Serialize(ValidDocument()).Replace("\"port\":5672", "\"port\":\"secret-password\"", StringComparison.Ordinal);
        var e = await Assert.ThrowsAsync<StartDocumentException>(() => Read(Encoding.UTF8.GetBytes(json)));

        Assert.DoesNotContain("secret-password", e.Message);
    }

    [Fact]
    public void Names_that_disagree_with_broker_names_are_refused()
    {
        var doc = ValidDocument();
        var other = doc with { Broker = doc.Broker with { TaskQueue = BrokerNames.TaskQueue(Guid.NewGuid().ToString()) } };
        var notUuid = ValidDocument("abc");

        var e1 = Assert.Throws<StartDocumentException>(() => StartDocument.Parse(ProtocolJson.SerializeToUtf8(other)));
        var e2 = Assert.Throws<StartDocumentException>(() => StartDocument.Parse(ProtocolJson.SerializeToUtf8(notUuid)));

        Assert.Equal($"broker.task_queue is not {BrokerNames.TaskQueue(doc.UepId)}", e1.Message);
        Assert.Equal("uep_id is not a UUID", e2.Message);
    }

    [Fact]
    public async Task Stdin_left_open_times_out()
    {
        using var server = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);

        var e = await Assert.ThrowsAsync<StartDocumentException>(() => StartDocument.ReadAsync(client, TimeSpan.FromMilliseconds(200)));
        Assert.StartsWith("stdin was not closed within", e.Message);
    }
}
