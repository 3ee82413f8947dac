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
}
