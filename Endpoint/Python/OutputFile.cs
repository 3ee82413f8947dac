using System.Text;

namespace Mep.Endpoint.Python;

/// <summary>The tail of a file a Python function's stdout or stderr went to (the end is where it says how it finished).</summary>
internal static class OutputFile
{
    public static (string Text, bool Truncated) ReadTail(string path, int limitBytes)
    {
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            var length = RandomAccess.GetLength(handle);
            var keep = (int)Math.Min(length, Math.Max(0, limitBytes));
            var buffer = new byte[keep];
            var read = 0;
            while (read < keep)
            {
                var n = RandomAccess.Read(handle, buffer.AsSpan(read), length - keep + read);
                if (n == 0)
                {
                    break;
                }

                read += n;
            }

            var span = buffer.AsSpan(0, read);
            var truncated = length > keep;
            if (truncated)
            {
                // Drop a character cut in half at the start of the tail.
                var skip = 0;
                while (skip < span.Length && skip < 3 && (span[skip] & 0xC0) == 0x80)
                {
                    skip++;
                }

                span = span[skip..];
            }

            return (Encoding.UTF8.GetString(span), truncated);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return ("", false);
        }
    }
}
