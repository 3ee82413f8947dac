using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Mep.Endpoint;
using Mep.Endpoint.Worker;
using Mep.Launcher;
using Mep.Protocol;
using Mep.Protocol.Launcher;
using Mep.Protocol.Messages;
using Mep.Tests.Endpoint;
using Xunit;

namespace Mep.Tests.Protocol;

/// <summary>
/// The Native AOT programs (mep-endpoint, mep-launcher) read and write the wire formats with source-generated metadata,
/// the silo and the SDK with <see cref="ProtocolJson.Options"/>' reflection: both must write the same bytes and refuse
/// the same documents, or a UEP and its silo would disagree on a field.
/// </summary>
public sealed class SourceGeneratedJsonTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 7, 4, 5, 6, 789, TimeSpan.FromHours(1));

    private static readonly TaskMessage PythonTask = new(Guid.NewGuid(), Guid.NewGuid(), FunctionKind.Python, "", new Dictionary<string, string>(),
        12.5, 4096, new PythonCall("def f(x): return x", "f", new JsonArray(1, "two", null), new JsonObject { ["k"] = new JsonArray(true) }));

    private static readonly TaskMessage ShellTask = new(Guid.NewGuid(), Guid.NewGuid(), FunctionKind.Shell, "echo {who}",
        new Dictionary<string, string> { ["who"] = "world", ["CamelKey"] = "kept as written" }, 1, 10);

    private static readonly EndpointEvent Result = new(EndpointEventKind.Result, "u1", At,
        Result: new TaskResultMessage(Guid.NewGuid(), TaskState.Failed, 137, "out", "err", true, "killed", At, At, "node1", 1000, "alice",
            "[1]", new PythonException("ValueError", "bad", "Traceback…")), Pid: 42);

    private static readonly EndpointEvent Started = new(EndpointEventKind.TaskStarted, "u1", At,
        Started: new TaskStartedMessage(Guid.NewGuid(), At, "node1", "1-1.0", null, 2));

    private static readonly EndpointEvent Heartbeat = new(EndpointEventKind.Heartbeat, "u1", At, Heartbeat: new HeartbeatMessage(42, "node1", 3, 9));

    [Fact]
    public void Every_wire_type_is_written_the_same_way_as_with_the_reflection_options()
    {
        var doc = StartDocumentTests.ValidDocument();
        Same(doc, ProtocolJsonContext.Default.UepStartDocument);
        Same(PythonTask, ProtocolJsonContext.Default.TaskMessage);
        Same(ShellTask, ProtocolJsonContext.Default.TaskMessage);
        Same(Result, ProtocolJsonContext.Default.EndpointEvent);
        Same(Started, ProtocolJsonContext.Default.EndpointEvent);
        Same(Heartbeat, ProtocolJsonContext.Default.EndpointEvent);
        Same(new EndpointEvent(EndpointEventKind.Stopping, "u1", At, Reason: "idle"), ProtocolJsonContext.Default.EndpointEvent);
        Same(new LauncherRequest(LauncherOp.Start, "u1", "alice", "{}", null, new UepResourceLimits(1, null, 3, 4, 5), "mep"),
            ProtocolJsonContext.Default.LauncherRequest);
        Same(new LauncherResponse(true, null, 7, [new LauncherChild("u1", "alice", 1000, 7, At)], "no cgroup: test"),
            ProtocolJsonContext.Default.LauncherResponse);
        Same(new LauncherEvent(LauncherEventKind.Exited, "u1", "alice", 7, 137, "tail", At, "expired"), ProtocolJsonContext.Default.LauncherEvent);
        Same(new WorkerDocument("u1", doc.Broker, 4, TaskLimits.Default, [Guid.NewGuid()], "/home/a/.mep/x", 10, 60, 14),
            EndpointJson.Files.WorkerDocument);
        Same(new WorkerStatus("1-1.0", "1-1", 7, "node1", "123", WorkerPhase.Stopped, 0, 5, 4, null, At, "signal"),
            EndpointJson.Files.WorkerStatus);
        Same(new ChildRecord("u1", "alice", 1000, 7, 99, At, ["/sys/fs/cgroup/mep/u1"], "cgroup v2"), LauncherJson.Files.ChildRecord);
    }

    [Fact]
    public void Enums_are_kebab_case_strings_both_ways()
    {
        var json = ProtocolJson.Serialize(Started);
        Assert.Contains("\"kind\":\"task-started\"", json, StringComparison.Ordinal);
        Assert.Equal(EndpointEventKind.TaskStarted, ProtocolJson.Deserialize(json, ProtocolJsonContext.Default.EndpointEvent).Kind);
        var status = ProtocolJson.SerializeToUtf8(new WorkerStatus("w", "b", 1, "h", null, WorkerPhase.Running, 0, 0, 1, null, At),
            EndpointJson.Files.WorkerStatus);
        Assert.Contains("\"phase\":\"running\"", System.Text.Encoding.UTF8.GetString(status), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"kind\":2,\"uep_id\":\"u1\",\"sent_at\":\"2026-12-07T04:05:06Z\"}")] // an enum as a number
    [InlineData("{\"kind\":\"heartbeat\",\"uep_id\":\"u1\",\"sent_at\":\"2026-12-07T04:05:06Z\",\"extra\":1}")] // an unknown member
    [InlineData("{\"kind\":\"heartbeat\",\"sent_at\":\"2026-12-07T04:05:06Z\"}")] // a required member missing
    [InlineData("{\"kind\":\"heartbeat\",\"uep_id\":null,\"sent_at\":\"2026-12-07T04:05:06Z\"}")] // null where none is allowed
    public void Both_refuse_the_same_malformed_documents(string json)
    {
        Assert.ThrowsAny<JsonException>(() => ProtocolJson.Deserialize<EndpointEvent>(json));
        Assert.ThrowsAny<JsonException>(() => ProtocolJson.Deserialize(json, ProtocolJsonContext.Default.EndpointEvent));
    }

    [Fact]
    public void Both_read_names_case_insensitively_and_numbers_from_strings_as_the_web_defaults_do()
    {
        const string json = "{\"KIND\":\"heartbeat\",\"Uep_Id\":\"u1\",\"sent_at\":\"2026-12-07T04:05:06Z\",\"pid\":\"42\"}";
        Assert.Equal(ProtocolJson.Deserialize<EndpointEvent>(json), ProtocolJson.Deserialize(json, ProtocolJsonContext.Default.EndpointEvent));
    }

    /// <summary>Written alike, and what one writes the other reads back to an equal JSON tree.</summary>
    private static void Same<T>(T value, JsonTypeInfo<T> generated)
    {
        var reflection = ProtocolJson.Serialize(value);
        var source = System.Text.Encoding.UTF8.GetString(ProtocolJson.SerializeToUtf8(value, generated));
        Assert.Equal(reflection, source);
        var readBack = ProtocolJson.SerializeToUtf8(ProtocolJson.Deserialize(reflection, generated), generated);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(reflection), JsonNode.Parse(readBack)), $"{typeof(T).Name} read back differs: {reflection}");
    }
}
