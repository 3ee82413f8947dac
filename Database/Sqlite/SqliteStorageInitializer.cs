using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Mep.Database.Sqlite;

/// <summary>
/// Creates the database file with owner-only permissions and applies our schema and queries. Safe to run any number
/// of times, also from several processes at once (the schema step runs in one BEGIN IMMEDIATE transaction).
/// </summary>
public static class SqliteStorageInitializer
{
    private const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyDirectory = OwnerReadWrite | UnixFileMode.UserExecute;
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Prepares the file and applies the schema, with the default connection settings.</summary>
    public static Task<SqliteSchemaChange> InitializeAsync(string databasePath, CancellationToken cancellationToken = default) =>
        InitializeAsync(databasePath, new SqliteGrainStorageOptions(), cancellationToken);

    /// <returns>The version the file had before (null: none, a new or empty file) and the one it has now.</returns>
    public static async Task<SqliteSchemaChange> InitializeAsync(string databasePath, SqliteGrainStorageOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(databasePath);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var fullPath = Path.GetFullPath(databasePath);
        PrepareFile(fullPath);
        using var dataSource = new SqliteStorageDataSource(fullPath, options);
        await using var connection = (SqliteConnection)await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var before = await ApplySchemaAsync(connection, cancellationToken).ConfigureAwait(false);
        return new SqliteSchemaChange(before, SqliteStorageSchema.Version);
    }

    /// <summary>The schema version an existing database file records (null: it has none yet). Opens the file read-only:
    /// never creates or changes it.</summary>
    public static async Task<long?> ReadStoredVersionAsync(string databasePath, CancellationToken cancellationToken = default)
    {
        var fullPath = Path.GetFullPath(databasePath);
        if (!File.Exists(fullPath))
        {
            throw new FileNotFoundException($"{fullPath} does not exist", fullPath);
        }

        var readOnly = new SqliteConnectionStringBuilder { DataSource = fullPath, Mode = SqliteOpenMode.ReadOnly, Pooling = false };
        await using var connection = new SqliteConnection(readOnly.ToString());
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = connection.BeginTransaction();
        await using (var exists = NewCommand(connection, transaction,
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'MepSchemaVersion';"))
        {
            if (Convert.ToInt64(await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture) == 0)
            {
                return null;
            }
        }

        return await ReadVersionAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Creates the directory (0700) and file (0600) when missing; strips group and other permissions from an existing
    /// database file and its WAL and shared-memory files. Grain state holds task arguments and results of many users: no one else reads it.
    /// </summary>
    internal static void PrepareFile(string fullPath)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("MEP's SQLite storage relies on Unix file modes");
        }

        var directory = Path.GetDirectoryName(fullPath);
        if (!string.IsNullOrEmpty(directory) && !Directory.Exists(directory))
        {
            // An existing directory keeps its mode: it may be a shared parent such as /var/lib.
            Directory.CreateDirectory(directory, OwnerOnlyDirectory);
        }

        try
        {
            using var created = new FileStream(fullPath, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = OwnerReadWrite,
            });
        }
        catch (IOException) when (File.Exists(fullPath))
        {
            // Already there (possibly created concurrently): fall through and check its mode.
        }

        // SQLite creates -wal and -shm with the database file's mode, so narrowing the main file covers new ones.
        foreach (var path in new[] { fullPath, fullPath + "-wal", fullPath + "-shm" })
        {
            if (File.Exists(path) && (File.GetUnixFileMode(path) & GroupOrOther) != 0)
            {
                File.SetUnixFileMode(path, File.GetUnixFileMode(path) & ~GroupOrOther);
            }
        }
    }

    /// <returns>The version stored before (null: none).</returns>
    internal static async Task<long?> ApplySchemaAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        // WAL lets readers run beside the one writer; it is a property of the file and must be set outside a transaction.
        await using (var wal = connection.CreateCommand())
        {
            wal.CommandText = "PRAGMA journal_mode = WAL;";
            var mode = Convert.ToString(await wal.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"SQLite database {connection.DataSource} refused WAL mode (journal_mode is '{mode}')");
            }
        }

        // BEGIN IMMEDIATE: take the write lock up front, so two silos starting together apply the schema one after the other.
        await using var transaction = connection.BeginTransaction(deferred: false);
        await ExecuteAsync(connection, transaction, SqliteStorageSchema.CreateVersionTable, cancellationToken).ConfigureAwait(false);

        var stored = await ReadVersionAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
        if (stored > SqliteStorageSchema.Version)
        {
            throw new Mep.Database.Migrations.SchemaException(
                $"SQLite database {connection.DataSource} has grain storage schema version {stored}, newer than this silo's "
                + $"{SqliteStorageSchema.Version}: refusing to run an older silo against it");
        }

        // Version 2 only added a table (MepTask), which CreateTables makes when missing; later versions that change a
        // table add their steps here, keyed on `stored`.
        await ExecuteAsync(connection, transaction, SqliteStorageSchema.CreateTables, cancellationToken).ConfigureAwait(false);
        foreach (var (key, text) in SqliteStorageQueries.All)
        {
            await using var upsert = NewCommand(connection, transaction, SqliteStorageSchema.UpsertQuery);
            upsert.Parameters.AddWithValue("@key", key);
            upsert.Parameters.AddWithValue("@text", text);
            await upsert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await using (var version = NewCommand(connection, transaction, SqliteStorageSchema.UpsertVersion))
        {
            version.Parameters.AddWithValue("@component", SqliteStorageSchema.Component);
            version.Parameters.AddWithValue("@version", SqliteStorageSchema.Version);
            await version.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return stored;
    }

    private static async Task<long?> ReadVersionAsync(SqliteConnection connection, SqliteTransaction transaction, CancellationToken cancellationToken)
    {
        await using var command = NewCommand(connection, transaction, SqliteStorageSchema.ReadVersion);
        command.Parameters.AddWithValue("@component", SqliteStorageSchema.Component);
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is null or DBNull ? null : Convert.ToInt64(value, CultureInfo.InvariantCulture);
    }

    private static async Task ExecuteAsync(SqliteConnection connection, SqliteTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = NewCommand(connection, transaction, sql);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static SqliteCommand NewCommand(SqliteConnection connection, SqliteTransaction transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }
}

/// <param name="FromVersion">The schema version the file had (null: none).</param>
/// <param name="ToVersion">The version it has now: this program's.</param>
public sealed record SqliteSchemaChange(long? FromVersion, int ToVersion);
