using System.Text;

namespace Mep.Launcher;

/// <summary>
/// Keeps the last N lines a child wrote, in bounded memory: a child that writes without end, or one endless line,
/// costs at most N lines of <see cref="MaxLineChars"/> each.
/// </summary>
public sealed class StderrTail(int maxLines)
{
    public const int MaxLineChars = 1000;

    private readonly Queue<string> lines = new();
    private readonly StringBuilder current = new();
    private readonly Lock gate = new();
    private bool currentTruncated;

    public void Append(ReadOnlySpan<char> chunk)
    {
        lock (gate)
        {
            foreach (var c in chunk)
            {
                if (c == '\n')
                {
                    EndLine();
                }
                else if (current.Length < MaxLineChars)
                {
                    current.Append(c);
                }
                else
                {
                    currentTruncated = true;
                }
            }
        }
    }

    /// <summary>Reads the stream to its end, keeping the tail.</summary>
    public async Task ReadToEndAsync(TextReader reader, CancellationToken cancellationToken)
    {
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer, cancellationToken)) > 0)
        {
            Append(buffer.AsSpan(0, read));
        }
    }

    /// <summary>The kept lines joined by newlines (an unfinished last line included), or null if there were none.</summary>
    public string? Text()
    {
        lock (gate)
        {
            var all = lines.ToList();
            if (current.Length > 0 || currentTruncated)
            {
                all.Add(LineText());
                if (all.Count > maxLines)
                {
                    all.RemoveAt(0);
                }
            }

            return all.Count == 0 ? null : string.Join('\n', all);
        }
    }

    private void EndLine()
    {
        lines.Enqueue(LineText());
        current.Clear();
        currentTruncated = false;
        while (lines.Count > maxLines)
        {
            lines.Dequeue();
        }
    }

    private string LineText() => currentTruncated ? current + " [truncated]" : current.ToString().TrimEnd('\r');
}
