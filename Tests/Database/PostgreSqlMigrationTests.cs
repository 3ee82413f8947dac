using System.Reflection;
using Mep.Database.Migrations;
using Mep.Database.PostgreSql;
using Mep.Tests.Infrastructure;
using Npgsql;
using Xunit;

namespace Mep.Tests.Database;

/// <summary>MEP's PostgreSQL migrations against a real server, each test on a database of its own.</summary>
public sealed class PostgreSqlMigrationTests : IAsyncLifetime
{
    private TestDatabase db = null!;

    public async Task InitializeAsync() => db = await PostgresServer.CreateDatabaseAsync();

    public async Task DisposeAsync() => await db.DisposeAsync();

    [Fact]
    public async Task Migrations_ApplyOnce_ThenTheDatabaseIsUpToDate()
    {
        await using var source = db.OwnerDataSource();
        var catalog = MigrationCatalog.PostgreSql;
        Assert.Equal(4, catalog.LatestVersion);

        var first = await PostgreSqlSchema.MigrateAsync(source);
        Assert.Equal(0, first.FromVersion);
        Assert.Equal(catalog.Migrations.Select(m => m.Version), first.Applied.Select(m => m.Version));

        var second = await PostgreSqlSchema.MigrateAsync(source);
        Assert.Empty(second.Applied);
        Assert.Equal(4, second.FromVersion);

        await using var connection = await source.OpenConnectionAsync();
        var recorded = await PostgreSqlSchema.ReadAppliedAsync(connection, null);
        Assert.Equal(catalog.Migrations.Select(m => (m.Version, m.Name, m.Sha256)), recorded.Select(r => (r.Version, r.Name, r.Sha256)));
        Assert.Equal(4, await PostgreSqlSchema.VerifyAsync(source));
    }

    [Fact]
    public async Task QueryTable_HoldsEveryKeyTheThreeProvidersRequire()
    {
        await using var source = db.OwnerDataSource();
        await PostgreSqlSchema.MigrateAsync(source);
        var stored = new HashSet<string>(StringComparer.Ordinal);
        await using (var command = source.CreateCommand("SELECT QueryKey FROM OrleansQuery"))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                stored.Add(reader.GetString(0));
            }
        }

        // The providers require exactly the internal properties of their DbStoredQueries (they check at start).
        var required = new[]
        {
            typeof(Orleans.Configuration.AdoNetClusteringSiloOptions).Assembly,
            typeof(Orleans.Configuration.AdoNetGrainStorageOptions).Assembly,
            typeof(Orleans.Configuration.AdoNetReminderTableOptions).Assembly,
        }.SelectMany(RequiredKeys).ToHashSet(StringComparer.Ordinal);
        Assert.NotEmpty(required);
        Assert.Empty(required.Except(stored));
        // The storage provider reads its four keys by name (not through DbStoredQueries), and the clustering provider
        // uses the per-row defunct cleanup when present.
        Assert.Superset(new HashSet<string> { "ReadFromStorageKey", "WriteToStorageKey", "ClearStorageKey", "DeleteStorageKey", "CleanupDefunctSiloEntryKey" }, stored);
    }

    private static IEnumerable<string> RequiredKeys(Assembly assembly) =>
        assembly.GetTypes()
            .Where(t => t.Name == "DbStoredQueries")
            .SelectMany(t => t.GetProperties(BindingFlags.Instance | BindingFlags.NonPublic))
            .Select(p => p.Name);

    [Fact]
    public async Task ConcurrentInits_ApplyEachMigrationExactlyOnce()
    {
        var sources = Enumerable.Range(0, 4).Select(_ => db.OwnerDataSource()).ToList();
        try
        {
            var results = await Task.WhenAll(sources.Select(s => Task.Run(() => PostgreSqlSchema.MigrateAsync(s))));
            // One run applied them all; the others waited for its lock and found nothing to do.
            var all = MigrationCatalog.PostgreSql.LatestVersion;
            Assert.Single(results, r => r.Applied.Count == all);
            Assert.Equal(3, results.Count(r => r.Applied.Count == 0));
            Assert.Equal((long)all, await db.ScalarAsync("SELECT count(*) FROM mep_schema_version"));
        }
        finally
        {
            foreach (var s in sources)
            {
                await s.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task TamperedChecksum_IsRefusedByInitAndBySiloCheck()
    {
        await using var source = db.OwnerDataSource();
        await PostgreSqlSchema.MigrateAsync(source);
        await db.ExecuteAsync("UPDATE mep_schema_version SET sha256 = repeat('0', 64) WHERE version = 2");

        var init = await Assert.ThrowsAsync<SchemaException>(() => PostgreSqlSchema.MigrateAsync(source));
        Assert.Contains("0002_grain_state", init.Message, StringComparison.Ordinal);
        Assert.Contains("edited", init.Message, StringComparison.Ordinal);
        var check = await Assert.ThrowsAsync<SchemaException>(() => PostgreSqlSchema.VerifyAsync(source));
        Assert.Contains("0002_grain_state", check.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NewerDatabase_IsRefused_AndNothingIsApplied()
    {
        await using var source = db.OwnerDataSource();
        await PostgreSqlSchema.MigrateAsync(source);
        await db.ExecuteAsync($"INSERT INTO mep_schema_version (version, name, sha256) VALUES ({MigrationCatalog.PostgreSql.LatestVersion + 1}, 'from_the_future', repeat('a', 64))");

        var e = await Assert.ThrowsAsync<SchemaException>(() => PostgreSqlSchema.MigrateAsync(source));
        Assert.Contains("newer", e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<SchemaException>(() => PostgreSqlSchema.VerifyAsync(source));
    }

    [Fact]
    public async Task SiloCheck_OnAnEmptyOrPartialDatabase_SaysToRunDbInit()
    {
        await using var source = db.OwnerDataSource();
        var empty = await Assert.ThrowsAsync<SchemaException>(() => PostgreSqlSchema.VerifyAsync(source));
        Assert.Contains("mep db init", empty.Message, StringComparison.Ordinal);

        await PostgreSqlSchema.MigrateAsync(source);
        await db.ExecuteAsync("DELETE FROM mep_schema_version WHERE version = 4");
        var behind = await Assert.ThrowsAsync<SchemaException>(() => PostgreSqlSchema.VerifyAsync(source));
        Assert.Contains("0004_tasks", behind.Message, StringComparison.Ordinal);
        Assert.Contains("mep db init", behind.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RuntimeRole_GetsRowRightsOnly()
    {
        await using (var owner = db.OwnerDataSource())
        {
            var result = await PostgreSqlSchema.MigrateAsync(owner, [db.RuntimeRole]);
            Assert.Equal([db.RuntimeRole], result.GrantedTo);
        }

        await using var runtime = db.RuntimeDataSource();
        Assert.Equal(MigrationCatalog.PostgreSql.LatestVersion, await PostgreSqlSchema.VerifyAsync(runtime));
        await using var connection = await runtime.OpenConnectionAsync();
        await Exec(connection, "INSERT INTO mep_cluster_version (deployment_id) VALUES ('c1')");
        await Exec(connection, "DELETE FROM mep_cluster_version WHERE deployment_id = 'c1'");
        foreach (var forbidden in new[]
        {
            "CREATE TABLE intruder (x int)",
            "UPDATE OrleansQuery SET QueryText = 'SELECT 1'",
            "DELETE FROM mep_schema_version",
            "DROP TABLE mep_grain_state",
        })
        {
            var e = await Assert.ThrowsAsync<PostgresException>(() => Exec(connection, forbidden));
            Assert.True(e.SqlState is PostgresErrorCodes.InsufficientPrivilege, $"{forbidden}: {e.SqlState} {e.MessageText}");
        }
    }

    [Fact]
    public async Task EveryTableTheMigrationsCreate_IsClassifiedForGrants()
    {
        await using var source = db.OwnerDataSource();
        await PostgreSqlSchema.MigrateAsync(source);
        var tables = new List<string>();
        await using (var command = source.CreateCommand("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                tables.Add(reader.GetString(0));
            }
        }
        Assert.Equal(PostgreSqlSchema.RuntimeTables.Concat(PostgreSqlSchema.ReadOnlyTables).Order(), tables.Order());
    }

    private static async Task Exec(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
