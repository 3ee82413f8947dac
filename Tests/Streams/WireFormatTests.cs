using Mep.Protocol.Messages;
using Mep.Streams.RabbitMQ;
using Xunit;

namespace Mep.Tests.Streams;

/// <summary>The parts of the wire format that publishers outside Orleans compute on their own.</summary>
public sealed class WireFormatTests
{
    // Expected values computed independently: SHA-256 of "namespace\0key", first 4 bytes big-endian, mod n
    // (python3: struct.unpack('>I', hashlib.sha256(b'mep.uep\0' + key).digest()[:4])[0] % n).
    [Theory]
    [InlineData("mep.uep", "387192c9-3f23-8a25-b0bc-19f6df18f38f", 8, 6)]
    [InlineData("test.orleans", "s1", 8, 7)]
    [InlineData("a", "b", 4096, 430)]
    public void Partition_is_the_documented_hash(string ns, string key, int partitions, int expected)
    {
        Assert.Equal(expected, RabbitMqStreamPartitioner.Partition(ns, key, partitions));
        Assert.Equal(expected, RabbitMqStreamPartitioner.Partition(Orleans.Runtime.StreamId.Create(ns, key), partitions));
    }

    [Fact]
    public void The_uep_program_uses_the_provider_header_names()
    {
        // The UEP program does not reference the provider (it stays small); these constants must agree.
        Assert.Equal(RabbitMqWireFormat.StreamNamespaceHeader, BrokerNames.StreamNamespaceHeader);
        Assert.Equal(RabbitMqWireFormat.StreamKeyHeader, BrokerNames.StreamKeyHeader);
    }

    [Fact]
    public void Routing_keys_start_with_the_partition()
    {
        Assert.Equal("3", RabbitMqStreamPartitioner.RoutingKey(3));
        Assert.Equal("3.uep.x", RabbitMqStreamPartitioner.RoutingKey(3, "uep.x"));
        Assert.Equal("3.uep.x", BrokerNames.EventsRoutingKey(3, "x"));
    }
}
