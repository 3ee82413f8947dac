namespace Mep.Database.Sqlite;

/// <summary>Settings of the SQLite grain storage (the silo's AddSqliteGrainStorage) and of its initializer.</summary>
public sealed class SqliteGrainStorageOptions
{
    /// <summary>
    /// How long a statement waits for another connection's write lock before failing with "database is locked".
    /// Writers in one silo queue on SQLite's single write lock, so this bounds the queueing, not normal latency.
    /// </summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// True (default): <c>PRAGMA synchronous = FULL</c>, a write acknowledged to a grain survives power loss.
    /// False: <c>NORMAL</c>, cheaper, and still survives a crash of the silo process (WAL mode), but not of the machine.
    /// </summary>
    public bool DurableCommits { get; set; } = true;

    /// <summary>Passed to the Orleans provider: a cleared state deletes its row instead of keeping an empty one.</summary>
    public bool DeleteStateOnClear { get; set; }

    public void Validate()
    {
        if (BusyTimeout <= TimeSpan.Zero || BusyTimeout > TimeSpan.FromHours(1))
        {
            throw new ArgumentOutOfRangeException(nameof(BusyTimeout), BusyTimeout, "must be positive and at most one hour");
        }
    }
}
