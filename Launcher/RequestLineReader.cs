namespace Mep.Launcher;

/// <summary>A request line longer than the configured limit.</summary>
public sealed class RequestTooLargeException(int limit) : Exception($"request line exceeds {limit} bytes");

/// <summary>Reads newline-terminated lines from a stream without ever holding more than the limit.</summary>
internal sealed class RequestLineReader(Stream stream, int maxBytes)
{
    private readonly byte[] buffer = new byte[8192];
    private int start;
    private int end;

    /// <summary>The next line without its terminator, or null at end of stream.</summary>
    public async Task<byte[]?> ReadLineAsync(CancellationToken cancellationToken)
    {
        using var line = new MemoryStream();
        while (true)
        {
            if (start < end)
            {
                var newline = Array.IndexOf(buffer, (byte)'\n', start, end - start);
                var take = (newline >= 0 ? newline : end) - start;
                if (line.Length + take > maxBytes)
                {
                    throw new RequestTooLargeException(maxBytes);
                }

                line.Write(buffer, start, take);
                start += take;
                if (newline >= 0)
                {
                    start++;
                    return TrimCarriageReturn(line.ToArray());
                }
            }

            var read = await stream.ReadAsync(buffer, cancellationToken);
            if (read == 0)
            {
                return line.Length == 0 ? null : TrimCarriageReturn(line.ToArray());
            }

            start = 0;
            end = read;
        }
    }

    private static byte[] TrimCarriageReturn(byte[] line) =>
        line.Length > 0 && line[^1] == (byte)'\r' ? line[..^1] : line;
}
