namespace Mep.Protocol;

/// <summary>Name-based UUIDs (RFC 9562 version 8) from a hash we choose, written big-endian like every other UUID tool.</summary>
public static class Uuid
{
    public static Guid FromHash(ReadOnlySpan<byte> hash)
    {
        if (hash.Length < 16)
        {
            throw new ArgumentException("need at least 16 bytes of hash", nameof(hash));
        }

        Span<byte> bytes = stackalloc byte[16];
        hash[..16].CopyTo(bytes);
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x80); // version 8
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80); // RFC variant
        return new Guid(bytes, bigEndian: true);
    }
}
