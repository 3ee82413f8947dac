namespace Mep.Database.Sqlite;

/// <summary>The tables behind the SQLite grain storage. Every statement is idempotent.</summary>
public static class SqliteStorageSchema
{
    /// <summary>Name of our row in <c>MepSchemaVersion</c>.</summary>
    public const string Component = "grain-storage";

    /// <summary>Bump when a table changes, and add the migration step to the initializer. 2: the task table.</summary>
    public const int Version = 2;

    public const string CreateVersionTable = """
        CREATE TABLE IF NOT EXISTS MepSchemaVersion (
            Component  TEXT    NOT NULL PRIMARY KEY,
            Version    INTEGER NOT NULL,
            AppliedUtc TEXT    NOT NULL
        );
        """;

    /// <summary>
    /// OrleansQuery is the provider's fixed name (it selects QueryKey and QueryText from it). MepGrainState holds one
    /// row per (service, state name, grain key). The grain key arrives as two 64-bit halves plus an optional string;
    /// the string is stored as '' with an is-null flag so that the whole key can be a primary key (SQLite treats
    /// NULLs as distinct in unique indexes) and the write can rely on ON CONFLICT. MepTask is the task table
    /// (Database/Tasks/SqliteTaskTable.cs; as mep_task in the PostgreSQL migration 0004, which says what each column holds).
    /// </summary>
    public const string CreateTables = """
        CREATE TABLE IF NOT EXISTS OrleansQuery (
            QueryKey  TEXT NOT NULL PRIMARY KEY,
            QueryText TEXT NOT NULL
        );

        CREATE TABLE IF NOT EXISTS MepGrainState (
            ServiceId           TEXT    NOT NULL,
            StateName           TEXT    NOT NULL,
            GrainIdN0           INTEGER NOT NULL,
            GrainIdN1           INTEGER NOT NULL,
            GrainIdStringIsNull INTEGER NOT NULL CHECK (GrainIdStringIsNull IN (0, 1)),
            GrainIdString       TEXT    NOT NULL,
            Payload             BLOB,
            Version             INTEGER NOT NULL CHECK (Version >= 1),
            ModifiedUtc         TEXT    NOT NULL,
            PRIMARY KEY (ServiceId, StateName, GrainIdN0, GrainIdN1, GrainIdStringIsNull, GrainIdString)
        );

        CREATE TABLE IF NOT EXISTS MepTask (
            ServiceId       TEXT    NOT NULL,
            TaskId          TEXT    NOT NULL,
            UserEndpointId  TEXT    NOT NULL,
            OwnerIdentityId TEXT    NOT NULL,
            QueuedAtTicks   INTEGER NOT NULL,
            Position        INTEGER NOT NULL,
            IsOpen          INTEGER NOT NULL CHECK (IsOpen IN (0, 1)),
            Record          TEXT    NOT NULL,
            Queued          TEXT,
            Progress        TEXT,
            Outcome         TEXT,
            History         TEXT,
            PRIMARY KEY (ServiceId, TaskId),
            CHECK (IsOpen = (Outcome IS NULL))
        );

        CREATE INDEX IF NOT EXISTS MepTaskQueue ON MepTask (ServiceId, UserEndpointId, QueuedAtTicks, Position) WHERE IsOpen = 1;
        """;

    public const string UpsertQuery = """
        INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES (@key, @text)
        ON CONFLICT (QueryKey) DO UPDATE SET QueryText = excluded.QueryText;
        """;

    public const string ReadVersion = "SELECT Version FROM MepSchemaVersion WHERE Component = @component;";

    // AppliedUtc records when this version was first applied, so re-applying it leaves the row alone.
    public const string UpsertVersion = """
        INSERT INTO MepSchemaVersion (Component, Version, AppliedUtc)
        VALUES (@component, @version, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        ON CONFLICT (Component) DO UPDATE SET Version = excluded.Version, AppliedUtc = excluded.AppliedUtc
        WHERE MepSchemaVersion.Version <> excluded.Version;
        """;
}
