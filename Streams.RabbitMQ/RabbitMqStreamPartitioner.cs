using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Orleans.Runtime;

namespace Mep.Streams.RabbitMQ;

/// <summary>
/// Which partition a stream's events go to. The rule is simple enough for any language, so that a process that is
/// not an Orleans client can publish to a stream: the first four bytes of SHA-256 over
/// <c>namespace bytes, 0x00, key bytes</c>, read as a big-endian unsigned integer, modulo the partition count.
/// (Orleans' own stream hash is not part of its public contract, so it is not used.)
/// </summary>
public static class RabbitMqStreamPartitioner
{
    public static int Partition(StreamId streamId, int partitionCount) =>
        Partition(streamId.Namespace.Span, streamId.Key.Span, partitionCount);

    public static int Partition(string streamNamespace, string streamKey, int partitionCount) =>
        Partition(Encoding.UTF8.GetBytes(streamNamespace), Encoding.UTF8.GetBytes(streamKey), partitionCount);

    public static int Partition(ReadOnlySpan<byte> streamNamespace, ReadOnlySpan<byte> streamKey, int partitionCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitionCount, 1);
        var input = new byte[streamNamespace.Length + 1 + streamKey.Length];
        streamNamespace.CopyTo(input);
        streamKey.CopyTo(input.AsSpan(streamNamespace.Length + 1));
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(input, hash);
        return (int)(BinaryPrimitives.ReadUInt32BigEndian(hash) % (uint)partitionCount);
    }

    /// <summary>The routing key for a partition; a publisher may append <c>.anything</c> (e.g. for topic permissions).</summary>
    public static string RoutingKey(int partition, string? suffix = null) =>
        string.IsNullOrEmpty(suffix) ? partition.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"{partition}.{suffix}";

    public static string QueueName(string exchange, int partition) => $"{exchange}.{partition}";
}
