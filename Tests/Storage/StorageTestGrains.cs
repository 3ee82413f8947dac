namespace Mep.Tests.Storage;

// Grain and state used only by the storage tests. The state mixes the shapes our real grain states use: init-only
// properties, a positional record, a nullable, an enum, a dictionary, a timestamp.

public enum StorageTestPhase
{
    Stopped,
    Starting,
    Running,
}

[GenerateSerializer]
public sealed record StorageTestItem([property: Id(0)] string TaskId, [property: Id(1)] int? ExitCode);

[GenerateSerializer]
public sealed record StorageTestState
{
    [Id(0)] public string Owner { get; init; } = "";
    [Id(1)] public int Counter { get; init; }
    [Id(2)] public StorageTestPhase Phase { get; init; }
    [Id(3)] public IReadOnlyList<StorageTestItem> Items { get; init; } = [];
    [Id(4)] public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    [Id(5)] public DateTimeOffset? UpdatedAt { get; init; }
}

[GenerateSerializer]
public sealed record StorageSnapshot(
    [property: Id(0)] StorageTestState State,
    [property: Id(1)] string? ETag,
    [property: Id(2)] bool RecordExists);

public interface IStorageTestGrain : IGrainWithStringKey
{
    Task<StorageSnapshot> Save(StorageTestState state);

    /// <summary>Re-reads from the database, so the answer is what storage holds, not what the activation remembers.</summary>
    Task<StorageSnapshot> Reload();

    Task<StorageSnapshot> Clear();

    Task<int> Increment();
}

public sealed class StorageTestGrain(
    [PersistentState(StorageTestGrain.StateName, StorageTestGrain.ProviderName)] IPersistentState<StorageTestState> state)
    : Grain, IStorageTestGrain
{
    public const string StateName = "storage-test";
    public const string ProviderName = "mep-storage-test";

    public async Task<StorageSnapshot> Save(StorageTestState value)
    {
        state.State = value;
        await state.WriteStateAsync();
        return Snapshot();
    }

    public async Task<StorageSnapshot> Reload()
    {
        await state.ReadStateAsync();
        return Snapshot();
    }

    public async Task<StorageSnapshot> Clear()
    {
        await state.ClearStateAsync();
        return Snapshot();
    }

    public async Task<int> Increment()
    {
        state.State = state.State with { Counter = state.State.Counter + 1 };
        await state.WriteStateAsync();
        return state.State.Counter;
    }

    private StorageSnapshot Snapshot() => new(state.State, state.Etag, state.RecordExists);
}
