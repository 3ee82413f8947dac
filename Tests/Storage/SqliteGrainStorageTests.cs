using System.Runtime.Versioning;
using Orleans.Storage;
using Xunit;

namespace Mep.Tests.Storage;

/// <summary>Orleans ADO.NET grain storage on a real SQLite file, through a real in-process silo.</summary>
[Collection(StorageCollection.Name)]
[UnsupportedOSPlatform("windows")]
public sealed class SqliteGrainStorageTests : IDisposable
{
    private readonly StorageTempDirectory temp = new();
    private readonly string serviceId = "mep-storage-" + Guid.NewGuid().ToString("N");

    public void Dispose() => temp.Dispose();

    private static StorageTestState SampleState(string owner) => new()
    {
        Owner = owner,
        Counter = 7,
        Phase = StorageTestPhase.Running,
        Items = [new StorageTestItem("t-1", 0), new StorageTestItem("t-2", null)],
        Labels = new Dictionary<string, string> { ["uid"] = "1001", ["shell"] = "/bin/sh" },
        UpdatedAt = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromHours(2)),
    };

    private static void AssertSameState(StorageTestState expected, StorageTestState actual)
    {
        Assert.Equal(expected.Owner, actual.Owner);
        Assert.Equal(expected.Counter, actual.Counter);
        Assert.Equal(expected.Phase, actual.Phase);
        Assert.Equal(expected.Items, actual.Items);
        Assert.Equal(expected.Labels.OrderBy(p => p.Key), actual.Labels.OrderBy(p => p.Key));
        Assert.Equal(expected.UpdatedAt, actual.UpdatedAt);
    }

    [Fact]
    public async Task WriteReadClear_RoundTripsThroughTheDatabase()
    {
        await using var cluster = await StorageCluster.StartAsync(temp.DatabasePath, serviceId);
        var grain = cluster.Client.GetGrain<IStorageTestGrain>("alice");

        var fresh = await grain.Reload();
        Assert.False(fresh.RecordExists);
        Assert.Null(fresh.ETag);
        Assert.Equal("", fresh.State.Owner);

        var saved = await grain.Save(SampleState("alice"));
        Assert.Equal("1", saved.ETag);

        var reloaded = await grain.Reload();
        Assert.True(reloaded.RecordExists);
        Assert.Equal("1", reloaded.ETag);
        AssertSameState(SampleState("alice"), reloaded.State);

        // Stored as System.Text.Json in the payload column, keyed by the state name and the string key.
        var payload = (string)StorageDb.Scalar(temp.DatabasePath,
            "SELECT CAST(Payload AS TEXT) FROM MepGrainState WHERE StateName = @s AND GrainIdString = 'alice'",
            ("@s", StorageTestGrain.StateName))!;
        Assert.Contains("\"Owner\":\"alice\"", payload, StringComparison.Ordinal);

        var cleared = await grain.Clear();
        Assert.False(cleared.RecordExists);
        Assert.Equal("2", cleared.ETag);
        var afterClear = await grain.Reload();
        Assert.False(afterClear.RecordExists);
        Assert.Equal("2", afterClear.ETag);
        Assert.Equal("", afterClear.State.Owner);
        Assert.Equal(1, StorageDb.Count(temp.DatabasePath, "SELECT COUNT(*) FROM MepGrainState WHERE Payload IS NULL"));

        // A cleared state can be written again; its version line continues.
        var again = await grain.Save(SampleState("alice-2"));
        Assert.Equal("3", again.ETag);
        Assert.Equal("alice-2", (await grain.Reload()).State.Owner);
    }

    [Fact]
    public async Task State_SurvivesAWholeClusterRestartOnTheSameFile()
    {
        await using (var first = await StorageCluster.StartAsync(temp.DatabasePath, serviceId))
        {
            await first.Client.GetGrain<IStorageTestGrain>("bob").Save(SampleState("bob"));
            await first.StopAllSilosAsync();
        }

        await using var second = await StorageCluster.StartAsync(temp.DatabasePath, serviceId);
        var snapshot = await second.Client.GetGrain<IStorageTestGrain>("bob").Reload();
        Assert.True(snapshot.RecordExists);
        Assert.Equal("1", snapshot.ETag);
        AssertSameState(SampleState("bob"), snapshot.State);
        // The activation in the new cluster also writes on from the restored version.
        Assert.Equal(8, await second.Client.GetGrain<IStorageTestGrain>("bob").Increment());
        Assert.Equal("2", (await second.Client.GetGrain<IStorageTestGrain>("bob").Reload()).ETag);
    }

    [Fact]
    public async Task StaleETag_IsRejectedWithInconsistentStateException()
    {
        await using var cluster = await StorageCluster.StartAsync(temp.DatabasePath, serviceId);
        var storage = cluster.Storage();
        var grainId = cluster.Client.GetGrain<IStorageTestGrain>("carol").GetGrainId();
        const string state = StorageTestGrain.StateName;

        var first = new GrainState<StorageTestState>();
        await storage.ReadStateAsync(state, grainId, first);
        Assert.Null(first.ETag);
        first.State = SampleState("first");
        await storage.WriteStateAsync(state, grainId, first);
        Assert.Equal("1", first.ETag);

        // A second reader sees version 1 and moves it to 2.
        var second = new GrainState<StorageTestState>();
        await storage.ReadStateAsync(state, grainId, second);
        Assert.Equal("1", second.ETag);
        second.State = SampleState("second");
        await storage.WriteStateAsync(state, grainId, second);
        Assert.Equal("2", second.ETag);

        // The first holder still has version 1: its write and its clear are both stale.
        first.State = SampleState("lost update");
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync(state, grainId, first));
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync(state, grainId, first));

        // A writer that believes no record exists (no ETag) must not overwrite one.
        var blind = new GrainState<StorageTestState>(SampleState("blind insert"));
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync(state, grainId, blind));

        var check = new GrainState<StorageTestState>();
        await storage.ReadStateAsync(state, grainId, check);
        Assert.Equal("2", check.ETag);
        Assert.Equal("second", check.State!.Owner);

        // Through a grain: its activation read version 2; a write behind its back makes its own write stale.
        var grain = cluster.Client.GetGrain<IStorageTestGrain>("carol");
        Assert.Equal("2", (await grain.Reload()).ETag);
        check.State = SampleState("behind the grain's back");
        await storage.WriteStateAsync(state, grainId, check);
        await Assert.ThrowsAsync<InconsistentStateException>(() => grain.Save(SampleState("grain")));
        Assert.Equal("behind the grain's back", (await grain.Reload()).State.Owner);
    }

    [Fact]
    public async Task DeleteStateOnClear_RemovesTheRowAndAllowsANewOne()
    {
        await using var cluster = await StorageCluster.StartAsync(temp.DatabasePath, serviceId, o => o.DeleteStateOnClear = true);
        var grain = cluster.Client.GetGrain<IStorageTestGrain>("dave");
        await grain.Save(SampleState("dave"));
        Assert.Equal(1, StorageDb.Count(temp.DatabasePath, "SELECT COUNT(*) FROM MepGrainState"));

        var cleared = await grain.Clear();
        Assert.Null(cleared.ETag);
        Assert.False(cleared.RecordExists);
        Assert.Equal(0, StorageDb.Count(temp.DatabasePath, "SELECT COUNT(*) FROM MepGrainState"));

        Assert.Equal("1", (await grain.Save(SampleState("dave-2"))).ETag);
        Assert.Equal("dave-2", (await grain.Reload()).State.Owner);
    }

    [Fact]
    public async Task DifferentKeyShapes_GetTheirOwnRows()
    {
        await using var cluster = await StorageCluster.StartAsync(temp.DatabasePath, serviceId);
        var storage = cluster.Storage();
        var kinds = GrainType.Create("kinds");
        var guid = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");
        GrainId[] ids =
        [
            GrainId.Create(kinds, GrainIdKeyExtensions.CreateIntegerKey(42)),
            GrainId.Create(kinds, GrainIdKeyExtensions.CreateIntegerKey(42, "x")),
            GrainId.Create(kinds, GrainIdKeyExtensions.CreateIntegerKey(42, "y")),
            GrainId.Create(kinds, GrainIdKeyExtensions.CreateIntegerKey(-42)),
            GrainId.Create(kinds, GrainIdKeyExtensions.CreateGuidKey(guid)),
            GrainId.Create(kinds, GrainIdKeyExtensions.CreateGuidKey(guid, "x")),
            GrainId.Create("kinds", "42"),
        ];

        foreach (var id in ids)
        {
            await storage.WriteStateAsync("kinds", id, new GrainState<StorageTestState>(SampleState(id.ToString())));
        }

        Assert.Equal(ids.Length, StorageDb.Count(temp.DatabasePath, "SELECT COUNT(*) FROM MepGrainState WHERE StateName = 'kinds'"));
        foreach (var id in ids)
        {
            var read = new GrainState<StorageTestState>();
            await storage.ReadStateAsync("kinds", id, read);
            Assert.Equal(id.ToString(), read.State!.Owner);
            Assert.Equal("1", read.ETag);
        }
    }

    [Fact]
    public async Task TwoHundredGrains_WritingConcurrently_AllSucceed()
    {
        const int grains = 200;
        const int writesEach = 5;
        await using var cluster = await StorageCluster.StartAsync(temp.DatabasePath, serviceId);

        var counts = await Task.WhenAll(Enumerable.Range(0, grains).Select(async i =>
        {
            var grain = cluster.Client.GetGrain<IStorageTestGrain>($"busy-{i}");
            var last = 0;
            for (var n = 0; n < writesEach; n++)
            {
                last = await grain.Increment();
            }

            return last;
        }));

        Assert.All(counts, c => Assert.Equal(writesEach, c));
        Assert.Equal(grains, StorageDb.Count(temp.DatabasePath,
            "SELECT COUNT(*) FROM MepGrainState WHERE StateName = @s AND Version = @v",
            ("@s", StorageTestGrain.StateName), ("@v", writesEach)));
    }

    [Fact]
    public async Task ParallelThreads_WritingThroughTheProvider_AllSucceed()
    {
        // Grain turns are few at a time on two cores; plain threads make the writers really overlap.
        const int threads = 8;
        const int idsPerThread = 25;
        const int writesEach = 4;
        await using var cluster = await StorageCluster.StartAsync(temp.DatabasePath, serviceId);
        var storage = cluster.Storage();

        await Task.WhenAll(Enumerable.Range(0, threads).Select(t => Task.Run(async () =>
        {
            for (var i = 0; i < idsPerThread; i++)
            {
                var id = GrainId.Create("parallel", $"t{t}-{i}");
                var state = new GrainState<StorageTestState>(new StorageTestState());
                for (var n = 1; n <= writesEach; n++)
                {
                    state.State = state.State! with { Counter = n };
                    await storage.WriteStateAsync("parallel", id, state);
                }
            }
        })));

        Assert.Equal(threads * idsPerThread, StorageDb.Count(temp.DatabasePath,
            "SELECT COUNT(*) FROM MepGrainState WHERE StateName = 'parallel' AND Version = @v", ("@v", writesEach)));
    }

    [Fact]
    public async Task Writer_WaitsForAnotherConnectionsLock_InsteadOfFailing()
    {
        await using var cluster = await StorageCluster.StartAsync(temp.DatabasePath, serviceId);
        var grain = cluster.Client.GetGrain<IStorageTestGrain>("erin");
        await grain.Save(SampleState("erin"));

        Task<StorageSnapshot> blocked;
        using (var holder = StorageDb.Open(temp.DatabasePath))
        using (var transaction = holder.BeginTransaction(deferred: false))
        {
            // The write lock is ours: the grain's write must queue behind it, not fail with "database is locked".
            blocked = grain.Save(SampleState("erin-2"));
            // Holding the lock for a while is the point of the test, not a wait for something to happen.
            var first = await Task.WhenAny(blocked, Task.Delay(TimeSpan.FromMilliseconds(500)));
            Assert.NotSame(blocked, first);
            transaction.Commit();
        }

        Assert.Equal("2", (await blocked).ETag);
    }

    [Fact]
    public async Task DatabaseFile_IsPrivateToTheSiloAccount()
    {
        await using var cluster = await StorageCluster.StartAsync(temp.DatabasePath, serviceId);
        await cluster.Client.GetGrain<IStorageTestGrain>("frank").Save(SampleState("frank"));

        const UnixFileMode ownerRw = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        Assert.Equal(ownerRw | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(temp.DatabasePath)!));
        Assert.Equal(ownerRw, File.GetUnixFileMode(temp.DatabasePath));
        Assert.True(File.Exists(temp.DatabasePath + "-wal"));
        Assert.Equal(ownerRw, File.GetUnixFileMode(temp.DatabasePath + "-wal"));
        Assert.Equal("wal", StorageDb.Scalar(temp.DatabasePath, "PRAGMA journal_mode;"));
    }
}

[CollectionDefinition(Name)]
public sealed class StorageCollection
{
    // Storage tests start silos and hammer one file each: run them one at a time on a small machine.
    public const string Name = "Storage";
}
