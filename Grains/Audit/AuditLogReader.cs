using System.Globalization;
using System.Text.Json.Nodes;
using Mep.Contracts.Model;

namespace Mep.Grains.Audit;

/// <summary>An audit log (or one of its rotated files) that cannot be read; the message names the path.</summary>
public sealed class AuditLogUnreadableException(string message) : Exception(message);

/// <summary>One matching entry: its stored line and its parsed form.</summary>
public sealed record AuditMatch(string Line, JsonObject Entry, DateTimeOffset Time);

/// <param name="Matches">Oldest first.</param>
/// <param name="Skipped">Lines that are not audit entries.</param>
/// <param name="Truncated">More matched than the query's limit; the oldest were dropped.</param>
public sealed record AuditReadResult(IReadOnlyList<AuditMatch> Matches, int Skipped, bool Truncated);

/// <summary>
/// Reads one node's audit log as <see cref="AuditLogFile"/> writes it: the rotated files oldest first (highest number
/// first), then the live file, line by line while the silo may be appending to it and rotating it. Shared by
/// <c>mep audit</c> (on the node, reading the file) and the silo's node audit grain (the admin API).
/// </summary>
public static class AuditLogReader
{
    public static AuditReadResult Read(string path, AuditQuery query, CancellationToken ct = default)
    {
        if (query.Limit is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(query), "the limit must be positive");
        }

        // Only the newest `Limit` matches are kept: a bounded window over a log that may hold hundreds of megabytes.
        var matches = new Queue<AuditMatch>();
        var skipped = 0;
        var truncated = false;
        foreach (var name in Files(path))
        {
            foreach (var line in ReadLines(name))
            {
                ct.ThrowIfCancellationRequested();
                if (string.IsNullOrWhiteSpace(line))
                {
                    continue;
                }

                if (AuditJson.Parse(line) is not { } entry)
                {
                    skipped++;
                    continue;
                }

                if (query.Matches(entry))
                {
                    matches.Enqueue(new AuditMatch(line, entry, AuditJson.TimeOf(entry)!.Value));
                    if (matches.Count > query.Limit)
                    {
                        matches.Dequeue();
                        truncated = true;
                    }
                }
            }
        }

        return new AuditReadResult(matches.ToList(), skipped, truncated);
    }

    /// <summary>The rotated files oldest first (highest number first), then the live file.</summary>
    public static List<string> Files(string path)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        var name = Path.GetFileName(full);
        if (!File.Exists(full))
        {
            throw new AuditLogUnreadableException(Directory.Exists(full) ? $"'{path}' is a directory" : $"'{path}' does not exist");
        }

        var rotated = new List<(int N, string Path)>();
        try
        {
            foreach (var candidate in Directory.EnumerateFiles(dir, name + ".*"))
            {
                // The pattern also matches the live file itself ("name.*" takes an empty extension): skip it.
                var found = Path.GetFileName(candidate);
                var suffix = found.Length > name.Length + 1 && found[name.Length] == '.' ? found[(name.Length + 1)..] : "";
                if (suffix.Length is > 0 and < 10 && suffix.All(char.IsAsciiDigit))
                {
                    rotated.Add((int.Parse(suffix, CultureInfo.InvariantCulture), candidate));
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AuditLogUnreadableException($"'{path}': its directory cannot be listed: {e.Message}");
        }

        return rotated.OrderByDescending(r => r.N).Select(r => r.Path).Append(full).ToList();
    }

    private static IEnumerable<string> ReadLines(string path)
    {
        StreamReader reader;
        try
        {
            // The silo holds the live file open for writing: share it, or the open is refused.
            reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
        }
        catch (FileNotFoundException)
        {
            // Rotated away between listing and opening: its lines are in the next file now.
            yield break;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AuditLogUnreadableException($"'{path}' cannot be read: {e.Message}");
        }

        using (reader)
        {
            while (reader.ReadLine() is { } line)
            {
                yield return line;
            }
        }
    }
}
