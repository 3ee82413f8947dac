namespace Mep.Database.Sqlite;

/// <summary>The tables behind the SQLite grain storage. Every statement is idempotent.</summary>
public static class SqliteStorageSchema
{
    /// <summary>Name of our row in <c>MepSchemaVersion</c>.</summary>
    public const string Component = "grain-storage";

    /// <summary>Bump when a table changes, and add the migration step to the initializer.</summary>
    public const int Version = 1;

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
    /// NULLs as distinct in unique indexes) and the write can rely on ON CONFLICT.
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
