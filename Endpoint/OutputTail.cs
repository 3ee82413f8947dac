using System.Text;

namespace Mep.Endpoint;

/// <summary>
/// Keeps the last <c>limit</c> bytes of a stream. The tail is kept rather than the head because the end of a
/// command's output is where it says how it finished: the error that stopped it, the summary line, or what it was
/// doing when the walltime killed it.
/// </summary>
internal sealed class OutputTail
{
    private readonly int _limit;
    private byte[] _buffer = [];
    private int _length;

    public OutputTail(int limit)
    {
        _limit = Math.Max(0, limit);
    }

    public long TotalBytes { get; private set; }

    public bool Truncated => TotalBytes > _limit;

    public void Append(ReadOnlySpan<byte> data)
    {
        TotalBytes += data.Length;
        if (data.Length >= _limit)
        {
            EnsureCapacity(_limit);
            data[^_limit..].CopyTo(_buffer);
            _length = _limit;
            return;
        }

        if ((long)_length + data.Length > _limit)
        {
            // Drop the oldest bytes so that what stays plus the new data fits in the limit.
            var keep = _limit - data.Length;
            Buffer.BlockCopy(_buffer, _length - keep, _buffer, 0, keep);
            _length = keep;
        }

        EnsureCapacity(_length + data.Length);
        data.CopyTo(_buffer.AsSpan(_length));
        _length += data.Length;
    }

    /// <summary>The kept bytes as UTF-8 text; a character cut in half at the start of the tail is dropped.</summary>
    public override string ToString()
    {
        var span = _buffer.AsSpan(0, _length);
        if (Truncated)
        {
            var skip = 0;
            while (skip < span.Length && skip < 3 && (span[skip] & 0xC0) == 0x80)
            {
                skip++;
            }

            span = span[skip..];
        }

        return Encoding.UTF8.GetString(span);
    }

    // Grows by doubling up to the limit, so a large limit costs memory only when output is large.
    private void EnsureCapacity(int needed)
    {
        if (_buffer.Length >= needed)
        {
            return;
        }

        var size = (int)Math.Min(_limit, Math.Max(needed, Math.Max(4096L, _buffer.Length * 2L)));
        Array.Resize(ref _buffer, size);
    }
}
