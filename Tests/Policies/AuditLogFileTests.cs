using System.Text.Json.Nodes;
using Mep.Grains.Audit;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Mep.Tests.Policies;

public sealed class AuditLogFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mep-audit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static AuditEntry Entry(int i) => new(
        DateTimeOffset.UnixEpoch.AddSeconds(i), "ep", "submit", i % 2 == 0 ? AuditEntry.Allowed : AuditEntry.Refused,
        i % 2 == 0 ? 200 : 403, i % 2 == 0 ? null : "reason \"quoted\"\nsecond line", $"id-{i}", $"user{i}@example.org",
        [$"user{i}@example.org"], LocalUser: i % 2 == 0 ? "mep-alice" : null, Tasks: i);

    [Fact]
    public async Task Concurrent_decisions_become_whole_json_lines_appended_to_a_file_only_owner_and_group_read()
    {
        var path = Path.Combine(_dir, "logs", "audit.log");
        using (var log = new AuditLogFile(path, NullLoggerFactory.Instance))
        {
            await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(() => log.WriteAsync(Entry(i)))));
        }

        using (var again = new AuditLogFile(path, NullLoggerFactory.Instance))
        {
            await again.WriteAsync(Entry(200));
        }

        var lines = File.ReadAllLines(path);
        Assert.Equal(201, lines.Length);
        var entries = lines.Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Equal(Enumerable.Range(0, 201), entries.Select(e => (int)e["tasks"]!).Order());
        var refused = entries.First(e => (int)e["tasks"]! == 1);
        Assert.Equal("refused", (string)refused["decision"]!);
        Assert.Equal(403, (int)refused["status"]!);
        Assert.Equal("reason \"quoted\"\nsecond line", (string)refused["reason"]!);
        Assert.False(refused.ContainsKey("local_user"));
        Assert.Equal("mep-alice", (string)entries.First(e => (int)e["tasks"]! == 0)["local_user"]!);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(path));
    }

    private static readonly UnixFileMode OwnerWriteGroupRead = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;

    /// <summary>The kept files oldest first (audit.log.N … audit.log.1, audit.log), as <c>mep audit</c> reads them.</summary>
    private static List<string> Chain(string path) =>
        Enumerable.Range(1, 100).Select(n => AuditLogFile.RotatedPath(path, n)).Where(File.Exists).Reverse().Append(path).ToList();

    [Fact]
    public async Task Concurrent_writes_past_the_size_limit_rotate_without_losing_or_splitting_a_line()
    {
        var path = Path.Combine(_dir, "audit.log");
        using (var log = new AuditLogFile(path, NullLoggerFactory.Instance, maxFileBytes: 2000, keepFiles: 100))
        {
            await Task.WhenAll(Enumerable.Range(0, 300).Select(i => Task.Run(() => log.WriteAsync(Entry(i)))));
            // A batch is one write: its lines land together in one file.
            await log.WriteAsync(Enumerable.Range(300, 5).Select(Entry).ToList());
        }

        var files = Chain(path);
        Assert.True(files.Count > 10, $"only {files.Count} files: the log did not rotate");
        Assert.All(files, f => Assert.True(new FileInfo(f).Length <= 2000, $"{f} is {new FileInfo(f).Length} bytes"));
        Assert.All(files, f => Assert.Equal(OwnerWriteGroupRead, File.GetUnixFileMode(f)));
        var tasks = files.SelectMany(File.ReadAllLines).Select(l => (int)JsonNode.Parse(l)!["tasks"]!).ToList();
        Assert.Equal(Enumerable.Range(0, 305), tasks.Order());
        Assert.Equal(Enumerable.Range(300, 5), tasks.TakeLast(5));
        Assert.Equal(Enumerable.Range(300, 5), File.ReadAllLines(path).Select(l => (int)JsonNode.Parse(l)!["tasks"]!).TakeLast(5));
    }

    [Fact]
    public async Task Rotation_keeps_the_newest_files_and_a_reopened_log_rotates_a_full_file_at_its_first_write()
    {
        var path = Path.Combine(_dir, "audit.log");
        using (var log = new AuditLogFile(path, NullLoggerFactory.Instance, maxFileBytes: 1000, keepFiles: 3))
        {
            for (var i = 0; i < 100; i++)
            {
                await log.WriteAsync(Entry(i));
            }
        }

        Assert.Equal(
            [AuditLogFile.RotatedPath(path, 3), AuditLogFile.RotatedPath(path, 2), AuditLogFile.RotatedPath(path, 1), path],
            Chain(path));
        var kept = Chain(path).SelectMany(File.ReadAllLines).Select(l => (int)JsonNode.Parse(l)!["tasks"]!).ToList();
        // The newest lines, in order, without a gap: only whole old files were dropped.
        Assert.Equal(Enumerable.Range(100 - kept.Count, kept.Count), kept);
        Assert.InRange(kept.Count, 4, 20);

        // Fill the live file to just under the limit; a restarted silo must rotate it before its first line.
        var newestBefore = File.ReadAllText(AuditLogFile.RotatedPath(path, 1));
        var full = $"{{\"filler\":\"{new string('x', 970)}\"}}\n";
        File.WriteAllText(path, full);
        using (var again = new AuditLogFile(path, NullLoggerFactory.Instance, maxFileBytes: 1000, keepFiles: 3))
        {
            await again.WriteAsync(Entry(100));
        }

        Assert.Equal(100, (int)JsonNode.Parse(File.ReadAllLines(path).Single())!["tasks"]!);
        Assert.Equal(full, File.ReadAllText(AuditLogFile.RotatedPath(path, 1)));
        Assert.Equal(newestBefore, File.ReadAllText(AuditLogFile.RotatedPath(path, 2)));
        Assert.Equal(OwnerWriteGroupRead, File.GetUnixFileMode(path));
    }
}
