using Mep.Database.PostgreSql;
using Mep.Database.Sqlite;
using Mep.Database.Tasks;
using Mep.Tests.Infrastructure;
using Mep.Tests.Storage;
using Npgsql;
using Xunit;

namespace Mep.Tests.Database;

/// <summary>
/// The task table's contract, the same on SQLite (a real file, as the silo opens it) and on PostgreSQL (as the silo's
/// runtime role), driven through the group-commit writer the silo uses.
/// </summary>
[Collection(StorageCollection.Name)]
public sealed class TaskTableTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mep-task-table-").FullName;
    private readonly string _service = "svc-" + Guid.NewGuid().ToString("N");
    private TestDatabase _db = null!;
    private NpgsqlDataSource _runtime = null!;
    private SqliteStorageDataSource _sqlite = null!;

    public async Task InitializeAsync()
    {
        _db = await PostgresServer.CreateDatabaseAsync();
        await using (var owner = _db.OwnerDataSource())
        {
            await PostgreSqlSchema.MigrateAsync(owner, [_db.RuntimeRole]);
        }

        _runtime = _db.RuntimeDataSource();
        var file = Path.Combine(_dir, "mep.db");
        await SqliteStorageInitializer.InitializeAsync(file);
        _sqlite = new SqliteStorageDataSource(file, new SqliteGrainStorageOptions());
    }

    public async Task DisposeAsync()
    {
        await _runtime.DisposeAsync();
        await _db.DisposeAsync();
        await _sqlite.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    public static TheoryData<string> Providers => new() { "sqlite", "postgresql" };

    private ITaskTable Table(string provider, string? service = null) => provider == "sqlite"
        ? new SqliteTaskTable(_sqlite, service ?? _service)
        : new PostgreSqlTaskTable(_runtime, service ?? _service);

    [Theory, MemberData(nameof(Providers))]
    public async Task A_queue_keeps_its_order_and_its_progress_until_each_task_ends(string provider)
    {
        await using var writer = new TaskWriteBatcher(Table(provider));
        var at = DateTimeOffset.UtcNow.UtcTicks;
        // Two submissions in one tick: the position within each keeps them apart and in order.
        var first = Enumerable.Range(0, 3).Select(i => Row("uep-a", "alice", at, i)).ToList();
        var later = Enumerable.Range(0, 2).Select(i => Row("uep-a", "alice", at + 1, i)).ToList();
        await writer.AddAsync(later);
        await writer.AddAsync(first);
        await writer.AddAsync([Row("uep-b", "bob", at, 0)]);

        var queue = await writer.Table.ReadQueueAsync("uep-a", CancellationToken.None);
        Assert.Equal([.. first.Select(r => r.TaskId), .. later.Select(r => r.TaskId)], queue.Select(q => q.TaskId));
        Assert.Equal(first[0].QueuedJson, queue[0].QueuedJson);

        await writer.SetProgressAsync([new TaskProgressRow(first[1].TaskId, """{"published":true}""")]);
        Assert.True(await writer.CompleteAsync([new TaskCompletionRow(first[0].TaskId, """{"state":"ok"}""", "[1]")]) is [true]);
        // Progress of a task that ended changes nothing: its end stands.
        await writer.SetProgressAsync([new TaskProgressRow(first[0].TaskId, """{"late":true}""")]);

        queue = await writer.Table.ReadQueueAsync("uep-a", CancellationToken.None);
        Assert.Equal([first[1].TaskId, first[2].TaskId, .. later.Select(r => r.TaskId)], queue.Select(q => q.TaskId));
        Assert.Equal("""{"published":true}""", queue[0].ProgressJson);
        var ended = Assert.Single(await writer.Table.ReadAsync([first[0].TaskId], CancellationToken.None));
        Assert.Equal(("""{"state":"ok"}""", "[1]"), (ended.OutcomeJson, ended.HistoryJson));
        Assert.Equal("alice", ended.OwnerIdentityId);
    }

    [Theory, MemberData(nameof(Providers))]
    public async Task The_first_end_wins_and_an_id_is_added_once(string provider)
    {
        await using var writer = new TaskWriteBatcher(Table(provider));
        var row = Row("uep-a", "alice", 1, 0);
        await writer.AddAsync([row]);
        await writer.AddAsync([row with { RecordJson = """{"second":true}""" }]);
        Assert.Equal(row.RecordJson, Assert.Single(await writer.Table.ReadAsync([row.TaskId], CancellationToken.None)).RecordJson);

        // Twice in one call (as two results of one task in one batch) and again later: only the first records.
        var ends = await writer.CompleteAsync([new TaskCompletionRow(row.TaskId, "\"first\"", "[]"), new TaskCompletionRow(row.TaskId, "\"second\"", "[]")]);
        Assert.Equal(new[] { true, false }, ends);
        Assert.Equal(new[] { false }, await writer.CompleteAsync([new TaskCompletionRow(row.TaskId, "\"third\"", "[]")]));
        Assert.Equal("\"first\"", Assert.Single(await writer.Table.ReadAsync([row.TaskId], CancellationToken.None)).OutcomeJson);
        // An unknown task has no row to end.
        Assert.Equal(new[] { false }, await writer.CompleteAsync([new TaskCompletionRow(Guid.NewGuid(), "\"x\"", "[]")]));
    }

    [Theory, MemberData(nameof(Providers))]
    public async Task Concurrent_writes_share_commits_and_every_one_is_durable(string provider)
    {
        var commits = 0;
        var rows = new List<NewTaskRow>();
        await using (var writer = new TaskWriteBatcher(Table(provider)))
        {
            writer.Committed += _ => Interlocked.Increment(ref commits);
            rows = Enumerable.Range(0, 400).Select(i => Row($"uep-{i % 8}", "alice", i, 0)).ToList();
            await Task.WhenAll(rows.Select(r => Task.Run(() => writer.AddAsync([r]))));
            var ends = await Task.WhenAll(rows.Select(r => Task.Run(() => writer.CompleteAsync([new TaskCompletionRow(r.TaskId, "\"done\"", "[]")]))));
            Assert.All(ends, e => Assert.Equal(new[] { true }, e));
        }

        // 800 writes; had each its own transaction there would be 800 commits.
        Assert.InRange(commits, 2, 799);
        // Read back by a new table object (nothing cached): all there, all ended, none in a queue.
        var fresh = Table(provider);
        var stored = await fresh.ReadAsync(rows.Select(r => r.TaskId).ToList(), CancellationToken.None);
        Assert.Equal(400, stored.Count);
        Assert.All(stored, s => Assert.Equal("\"done\"", s.OutcomeJson));
        for (var u = 0; u < 8; u++)
        {
            Assert.Empty(await fresh.ReadQueueAsync($"uep-{u}", CancellationToken.None));
        }
    }

    [Fact]
    public async Task With_nothing_in_flight_a_write_is_committed_by_its_caller_before_the_call_returns()
    {
        // SQLite's calls complete synchronously, so a write that leads its own commit is durable when AddAsync returns:
        // the caller goes on without waiting for a commit loop to pick the write up and hand it back.
        await using var writer = new TaskWriteBatcher(Table("sqlite"));
        var row = Row("uep-a", "alice", 1, 0);
        var added = writer.AddAsync([row]);
        Assert.True(added.IsCompletedSuccessfully);
        var ended = writer.CompleteAsync([new TaskCompletionRow(row.TaskId, "\"done\"", "[]")]);
        Assert.True(ended.IsCompletedSuccessfully);
        Assert.Equal(new[] { true }, await ended);
        Assert.Equal("\"done\"", (await Table("sqlite").ReadAsync([row.TaskId], CancellationToken.None)).Single().OutcomeJson);
    }

    [Theory, MemberData(nameof(Providers))]
    public async Task Another_service_on_the_same_database_sees_none_of_the_rows(string provider)
    {
        await using var writer = new TaskWriteBatcher(Table(provider));
        var row = Row("uep-a", "alice", 1, 0);
        await writer.AddAsync([row]);

        var other = Table(provider, service: "another-cluster");
        Assert.Empty(await other.ReadAsync([row.TaskId], CancellationToken.None));
        Assert.Empty(await other.ReadQueueAsync("uep-a", CancellationToken.None));
        Assert.Equal(new[] { false }, await other.WriteAsync([], [], [new TaskCompletionRow(row.TaskId, "\"x\"", "[]")], CancellationToken.None));
    }

    [Fact]
    public async Task A_batch_the_database_refuses_fails_every_caller_in_it_and_writes_none_of_it()
    {
        // A real refusal: the silo's role loses its right to add rows.
        await _db.ExecuteAsync($"REVOKE INSERT ON mep_task FROM {_db.RuntimeRole}");
        await using var writer = new TaskWriteBatcher(Table("postgresql"));
        var row = Row("uep-a", "alice", 1, 0);
        var e = await Assert.ThrowsAsync<PostgresException>(() => writer.AddAsync([row]));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, e.SqlState);

        // The writer goes on: the next batch (progress only, which the role may still write) commits.
        await writer.SetProgressAsync([new TaskProgressRow(row.TaskId, "{}")]);
        Assert.Empty(await writer.Table.ReadAsync([row.TaskId], CancellationToken.None));
    }

    private static NewTaskRow Row(string uep, string owner, long ticks, int position)
    {
        var id = Guid.NewGuid();
        return new NewTaskRow(id, uep, owner, ticks, position, $$"""{"task":"{{id}}"}""", $$"""{"command":"echo {{id}}"}""", "{}");
    }
}
