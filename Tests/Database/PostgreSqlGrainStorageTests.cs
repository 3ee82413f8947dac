using Mep.Database.PostgreSql;
using Mep.Silo.Database;
using Mep.Tests.Infrastructure;
using Mep.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans.Storage;
using Orleans.TestingHost;
using Xunit;

namespace Mep.Tests.Database;

/// <summary>
/// Orleans' real AdoNetGrainStorage on PostgreSQL with our queries, through an in-process silo connected as the
/// runtime role (row rights only), the same contract as the SQLite store's tests.
/// </summary>
[Collection(StorageCollection.Name)]
public sealed class PostgreSqlGrainStorageTests : IAsyncLifetime
{
    private readonly string serviceId = "mep-pg-" + Guid.NewGuid().ToString("N");
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

    private async Task<InProcessTestCluster> StartAsync(bool deleteStateOnClear = false)
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.Options.ServiceId = serviceId;
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSilo((_, silo) => silo.AddMepPostgreSqlGrainStorage(StorageTestGrain.ProviderName, runtime, deleteStateOnClear));
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    private static StorageTestState Sample(string owner) => new()
    {
        Owner = owner,
        Counter = 7,
        Phase = StorageTestPhase.Running,
        Items = [new StorageTestItem("t-1", 0), new StorageTestItem("t-2", null)],
        Labels = new Dictionary<string, string> { ["uid"] = "1001" },
        UpdatedAt = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromHours(2)),
    };

    [Fact]
    public async Task WriteReadClear_RoundTripsThroughPostgreSql()
    {
        await using var cluster = await StartAsync();
        var grain = cluster.Client.GetGrain<IStorageTestGrain>("alice");

        var fresh = await grain.Reload();
        Assert.False(fresh.RecordExists);
        Assert.Null(fresh.ETag);

        Assert.Equal("1", (await grain.Save(Sample("alice"))).ETag);
        var reloaded = await grain.Reload();
        Assert.True(reloaded.RecordExists);
        Assert.Equal("1", reloaded.ETag);
        Assert.Equal(Sample("alice").Items, reloaded.State.Items);
        Assert.Equal(Sample("alice").UpdatedAt, reloaded.State.UpdatedAt);

        var payload = (string)(await db.ScalarAsync(
            $"SELECT convert_from(payload, 'UTF8') FROM mep_grain_state WHERE state_name = '{StorageTestGrain.StateName}' AND grain_id_string = 'alice'"))!;
        Assert.Contains("\"Owner\":\"alice\"", payload, StringComparison.Ordinal);

        var cleared = await grain.Clear();
        Assert.False(cleared.RecordExists);
        Assert.Equal("2", cleared.ETag);
        Assert.Equal(1L, await db.ScalarAsync("SELECT count(*) FROM mep_grain_state WHERE payload IS NULL"));
        Assert.Equal("3", (await grain.Save(Sample("alice-2"))).ETag);
        Assert.Equal("alice-2", (await grain.Reload()).State.Owner);
    }

    [Fact]
    public async Task StaleETag_IsRejectedWithInconsistentStateException()
    {
        await using var cluster = await StartAsync();
        var storage = cluster.GetSiloServiceProvider().GetRequiredKeyedService<IGrainStorage>(StorageTestGrain.ProviderName);
        var grainId = cluster.Client.GetGrain<IStorageTestGrain>("carol").GetGrainId();
        const string state = StorageTestGrain.StateName;

        var first = new GrainState<StorageTestState>();
        await storage.ReadStateAsync(state, grainId, first);
        first.State = Sample("first");
        await storage.WriteStateAsync(state, grainId, first);
        Assert.Equal("1", first.ETag);

        var second = new GrainState<StorageTestState>();
        await storage.ReadStateAsync(state, grainId, second);
        second.State = Sample("second");
        await storage.WriteStateAsync(state, grainId, second);
        Assert.Equal("2", second.ETag);

        first.State = Sample("lost update");
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync(state, grainId, first));
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync(state, grainId, first));
        var blind = new GrainState<StorageTestState>(Sample("blind insert"));
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync(state, grainId, blind));

        var check = new GrainState<StorageTestState>();
        await storage.ReadStateAsync(state, grainId, check);
        Assert.Equal("2", check.ETag);
        Assert.Equal("second", check.State!.Owner);
    }

    [Fact]
    public async Task ConcurrentWritersOfOneRow_ExactlyOneWinsEachVersion()
    {
        await using var cluster = await StartAsync();
        var storage = cluster.GetSiloServiceProvider().GetRequiredKeyedService<IGrainStorage>(StorageTestGrain.ProviderName);
        var grainId = cluster.Client.GetGrain<IStorageTestGrain>("race").GetGrainId();
        const string state = StorageTestGrain.StateName;
        var seed = new GrainState<StorageTestState>(Sample("seed"));
        await storage.WriteStateAsync(state, grainId, seed);

        // Eight writers all hold version 1: the database must let exactly one of them through.
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            var mine = new GrainState<StorageTestState>(Sample($"writer-{i}")) { ETag = "1", RecordExists = true };
            try
            {
                await storage.WriteStateAsync(state, grainId, mine);
                return true;
            }
            catch (InconsistentStateException)
            {
                return false;
            }
        })));
        Assert.Equal(1, outcomes.Count(o => o));
        Assert.Equal(2, await db.ScalarAsync("SELECT version FROM mep_grain_state WHERE grain_id_string = 'race'"));
    }

    [Fact]
    public async Task DeleteStateOnClear_RemovesTheRow_AndKeyShapesGetTheirOwnRows()
    {
        await using var cluster = await StartAsync(deleteStateOnClear: true);
        var grain = cluster.Client.GetGrain<IStorageTestGrain>("dave");
        await grain.Save(Sample("dave"));
        var cleared = await grain.Clear();
        Assert.Null(cleared.ETag);
        Assert.Equal(0L, await db.ScalarAsync("SELECT count(*) FROM mep_grain_state"));
        Assert.Equal("1", (await grain.Save(Sample("dave-2"))).ETag);

        var storage = cluster.GetSiloServiceProvider().GetRequiredKeyedService<IGrainStorage>(StorageTestGrain.ProviderName);
        var kinds = GrainType.Create("kinds");
        var guid = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");
        GrainId[] ids =
        [
            GrainId.Create(kinds, GrainIdKeyExtensions.CreateIntegerKey(42)),
            GrainId.Create(kinds, GrainIdKeyExtensions.CreateIntegerKey(42, "x")),
            GrainId.Create(kinds, GrainIdKeyExtensions.CreateIntegerKey(-42)),
            GrainId.Create(kinds, GrainIdKeyExtensions.CreateGuidKey(guid)),
            GrainId.Create(kinds, GrainIdKeyExtensions.CreateGuidKey(guid, "x")),
            GrainId.Create("kinds", "42"),
        ];
        foreach (var id in ids)
        {
            await storage.WriteStateAsync("kinds", id, new GrainState<StorageTestState>(Sample(id.ToString())));
        }
        Assert.Equal((long)ids.Length, await db.ScalarAsync("SELECT count(*) FROM mep_grain_state WHERE state_name = 'kinds'"));
        foreach (var id in ids)
        {
            var read = new GrainState<StorageTestState>();
            await storage.ReadStateAsync("kinds", id, read);
            Assert.Equal(id.ToString(), read.State!.Owner);
        }
    }
}
