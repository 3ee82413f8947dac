using System.Data.Common;
using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Mep.Database.Sqlite;

/// <summary>
/// Hands the Orleans provider SQLite connections that are already set up for concurrent use.
/// </summary>
/// <remarks>
/// The provider opens a connection per operation, so per-connection settings (busy timeout, sync mode) cannot live in
/// the schema; a connection string cannot carry them either. A <see cref="DbDataSource"/> can: the provider calls
/// <see cref="DbDataSource.OpenConnectionAsync"/> and we run the PRAGMAs after each open (cheap on a pooled handle).
/// </remarks>
public sealed class SqliteStorageDataSource : DbDataSource
{
    private readonly string connectionString;
    private readonly string setupSql;

    public SqliteStorageDataSource(string databasePath, SqliteGrainStorageOptions options)
    {
        var timeoutMs = (int)Math.Ceiling(options.BusyTimeout.TotalMilliseconds);
        connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            // ReadWrite, not ReadWriteCreate: the initializer creates the file with mode 0600; SQLite would use 0644.
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = true,
            // Microsoft.Data.Sqlite retries a busy statement until this many seconds have passed: a second safety net
            // behind busy_timeout, which SQLite itself honours.
            DefaultTimeout = (int)Math.Ceiling(options.BusyTimeout.TotalSeconds),
        }.ToString();
        setupSql = string.Create(CultureInfo.InvariantCulture,
            $"PRAGMA busy_timeout = {timeoutMs}; PRAGMA synchronous = {(options.DurableCommits ? "FULL" : "NORMAL")};");
    }

    public override string ConnectionString => connectionString;

    protected override DbConnection CreateDbConnection() => new SqliteConnection(connectionString);

    protected override DbConnection OpenDbConnection()
    {
        var connection = new SqliteConnection(connectionString);
        try
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = setupSql;
            command.ExecuteNonQuery();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    protected override async ValueTask<DbConnection> OpenDbConnectionAsync(CancellationToken cancellationToken = default)
    {
        var connection = new SqliteConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var command = connection.CreateCommand();
            command.CommandText = setupSql;
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
