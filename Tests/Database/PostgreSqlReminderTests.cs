using System.Collections.Concurrent;
using Mep.Database.PostgreSql;
using Mep.Silo.Database;
using Mep.Tests.Infrastructure;
using Mep.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans.Configuration;
using Orleans.TestingHost;
using Xunit;

namespace Mep.Tests.Database;

public interface IPgReminderTestGrain : IGrainWithStringKey
{
    Task Register(string name, TimeSpan due, TimeSpan period);

    Task Unregister(string name);
}

/// <summary>Counts its reminder ticks in a static table, so a count survives the grain's deactivation.</summary>
public sealed class PgReminderTestGrain : Grain, IPgReminderTestGrain, IRemindable
{
    public static readonly ConcurrentDictionary<string, int> Ticks = new(StringComparer.Ordinal);

    public Task Register(string name, TimeSpan due, TimeSpan period) => this.RegisterOrUpdateReminder(name, due, period);

    public async Task Unregister(string name)
    {
        var reminder = await this.GetReminder(name) ?? throw new InvalidOperationException($"no reminder {name}");
        await this.UnregisterReminder(reminder);
    }

    public Task ReceiveReminder(string reminderName, TickStatus status)
    {
        Ticks.AddOrUpdate($"{this.GetPrimaryKeyString()}/{reminderName}", 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }
}

/// <summary>Orleans' real ADO.NET reminder service on PostgreSQL with our queries.</summary>
[Collection(StorageCollection.Name)]
public sealed class PostgreSqlReminderTests : IAsyncLifetime
{
    private TestDatabase db = null!;
    private NpgsqlDataSource runtime = null!;

    public async Task InitializeAsync()
    {
        db = await PostgresServer.CreateDatabaseAsync();
        await using (var owner = db.OwnerDataSource())
        {
            await PostgreSqlSchema.MigrateAsync(owner, [db.RuntimeRole]);
        }
        runtime = db.RuntimeDataSource();
    }

    public async Task DisposeAsync()
    {
        await runtime.DisposeAsync();
        await db.DisposeAsync();
    }

    private async Task<InProcessTestCluster> StartAsync()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.Options.ServiceId = "mep-pg-" + Guid.NewGuid().ToString("N");
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSilo((_, silo) =>
        {
            silo.UseMepPostgreSqlReminders(runtime);
            // Orleans refuses periods under a minute by default; the test needs ticks within seconds.
            silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
        });
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    [Fact]
    public async Task Reminder_IsStored_Fires_AndIsRemoved()
    {
        await using var cluster = await StartAsync();
        var key = "r-" + Guid.NewGuid().ToString("N");
        var grain = cluster.Client.GetGrain<IPgReminderTestGrain>(key);
        await grain.Register("tick", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));

        Assert.Equal(1L, await db.ScalarAsync($"SELECT count(*) FROM mep_reminder WHERE reminder_name = 'tick' AND grain_id LIKE '%{key}'"));
        Assert.Equal(1000L, await db.ScalarAsync($"SELECT period_ms FROM mep_reminder WHERE grain_id LIKE '%{key}'"));
        await Poll.UntilTrue(() => Task.FromResult(PgReminderTestGrain.Ticks.GetValueOrDefault($"{key}/tick") >= 2),
            TimeSpan.FromSeconds(60), () => $"reminder ticks: {PgReminderTestGrain.Ticks.GetValueOrDefault($"{key}/tick")}");

        await grain.Unregister("tick");
        Assert.Equal(0L, await db.ScalarAsync($"SELECT count(*) FROM mep_reminder WHERE grain_id LIKE '%{key}'"));
    }

    [Fact]
    public async Task ReminderTable_ReadsRowsByGrain_AndByRingRange_IncludingWrappingRanges()
    {
        await using var cluster = await StartAsync();
        var table = cluster.GetSiloServiceProvider().GetRequiredService<IReminderTable>();
        var start = new DateTime(2026, 5, 6, 7, 8, 9, 123, DateTimeKind.Utc);
        var ids = Enumerable.Range(0, 120).Select(i => GrainId.Create("pgrem", $"g{i}")).ToList();
        foreach (var id in ids)
        {
            var etag = await table.UpsertRow(new ReminderEntry { GrainId = id, ReminderName = "a", StartAt = start, Period = TimeSpan.FromMinutes(5) });
            Assert.False(string.IsNullOrEmpty(etag));
        }

        var one = await table.ReadRow(ids[0], "a");
        Assert.NotNull(one);
        Assert.Equal(TimeSpan.FromMinutes(5), one.Period);
        Assert.Equal(start.Ticks, one.StartAt.Ticks);
        Assert.Single((await table.ReadRows(ids[0])).Reminders);

        // Ranges are (begin, end] on the unsigned ring; the one across 0x80000000 is where signed and unsigned order differ.
        (uint Begin, uint End)[] ranges =
        [
            (0, 0), (0x10000000, 0x90000000), (0x7FFFFFF0, 0x80000010), (0x40000000, 0xC0000000),
            (0xC0000000, 0x40000000), (0x90000000, 0x10000000), (0x80000000, 0x7FFFFFFF),
        ];
        foreach (var (begin, end) in ranges)
        {
            var expected = ids.Where(id => InRange(id.GetUniformHashCode(), begin, end)).Select(id => id.ToString()).Order().ToList();
            var actual = (await table.ReadRows(begin, end)).Reminders.Select(r => r.GrainId.ToString()).Order().ToList();
            Assert.True(expected.SequenceEqual(actual), $"range ({begin:X8}, {end:X8}]: expected {expected.Count} rows, got {actual.Count}");
        }

        // An ETag mismatch does not delete; the right one does.
        Assert.False(await table.RemoveRow(ids[1], "a", "999"));
        var current = (await table.ReadRow(ids[1], "a"))!.ETag!;
        Assert.True(await table.RemoveRow(ids[1], "a", current));
        Assert.Null(await table.ReadRow(ids[1], "a"));

        // An update moves the version on.
        var before = (await table.ReadRow(ids[2], "a"))!.ETag;
        var after = await table.UpsertRow(new ReminderEntry { GrainId = ids[2], ReminderName = "a", StartAt = start, Period = TimeSpan.FromMinutes(6) });
        Assert.NotEqual(before, after);
        Assert.Equal(TimeSpan.FromMinutes(6), (await table.ReadRow(ids[2], "a"))!.Period);
    }

    private static bool InRange(uint hash, uint begin, uint end) =>
        begin < end ? hash > begin && hash <= end : hash > begin || hash <= end;
}
