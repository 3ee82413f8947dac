using System.Globalization;
using System.Text.RegularExpressions;
using Mep.Database.Migrations;
using Npgsql;

namespace Mep.Database.PostgreSql;

/// <summary>
/// Applies MEP's PostgreSQL migrations (as the schema owner, by <c>mep db init</c>) and checks a database's schema
/// (as the silo's runtime role, at silo start). The record of what was applied is <c>mep_schema_version</c>
/// (version, name, sha256, applied_at).
/// </summary>
public static partial class PostgreSqlSchema
{
    /// <summary>
    /// The transaction-scoped advisory lock every migrator takes first: a second node initialising the same database
    /// at the same time waits, then finds everything applied. The number is arbitrary but fixed ("MEPSCHEM").
    /// </summary>
    public const long AdvisoryLockKey = 0x4D45505343484D;

    public const string VersionTable = "mep_schema_version";

    /// <summary>Tables the silo reads and writes at run time.</summary>
    public static IReadOnlyList<string> RuntimeTables { get; } = ["mep_cluster_version", "mep_cluster_member", "mep_grain_state", "mep_reminder", "mep_task"];

    /// <summary>Tables the silo only reads: the providers' queries and the schema record.</summary>
    public static IReadOnlyList<string> ReadOnlyTables { get; } = ["orleansquery", VersionTable];

    private const string CreateVersionTable = """
        CREATE TABLE IF NOT EXISTS mep_schema_version (
            version    integer     PRIMARY KEY CHECK (version >= 1),
            name       text        NOT NULL,
            sha256     text        NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        );
        """;

    /// <summary>
    /// Applies every migration the database lacks, in one transaction under <see cref="AdvisoryLockKey"/>, then grants
    /// the runtime rights to each role in <paramref name="grantTo"/> (again on every run, so a role added later gets
    /// them). Refuses a database with a migration this program does not know (a newer MEP's) or whose recorded
    /// checksum differs from ours (an edited script), changing nothing.
    /// </summary>
    public static async Task<MigrationResult> MigrateAsync(NpgsqlDataSource dataSource, IReadOnlyCollection<string>? grantTo = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        var roles = grantTo ?? [];
        foreach (var role in roles)
        {
            if (!RoleName().IsMatch(role))
            {
                throw new ArgumentException($"role name '{role}' must match [a-z_][a-z0-9_]* (at most 63 characters)", nameof(grantTo));
            }
        }

        var catalog = MigrationCatalog.PostgreSql;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, transaction, $"SELECT pg_advisory_xact_lock({AdvisoryLockKey})", cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, transaction, CreateVersionTable, cancellationToken).ConfigureAwait(false);

        var applied = await ReadAppliedAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
        var pending = Compare(catalog, applied);
        var from = applied.Count == 0 ? 0 : applied[^1].Version;

        foreach (var migration in pending)
        {
            try
            {
                await ExecuteAsync(connection, transaction, migration.Sql, cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException e)
            {
                throw new SchemaException(
                    $"migration {Label(migration)} failed: {e.MessageText} (SQLSTATE {e.SqlState}); nothing was changed");
            }
            await using var record = new NpgsqlCommand(
                "INSERT INTO mep_schema_version (version, name, sha256) VALUES (@version, @name, @sha256)", connection, transaction);
            record.Parameters.AddWithValue("version", migration.Version);
            record.Parameters.AddWithValue("name", migration.Name);
            record.Parameters.AddWithValue("sha256", migration.Sha256);
            await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        foreach (var role in roles)
        {
            await GrantAsync(connection, transaction, role, cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new MigrationResult(from, catalog.LatestVersion, pending, [.. roles]);
    }

    /// <summary>
    /// Checks that the database has exactly the schema this program expects (every migration applied, checksums equal)
    /// and returns its version. Needs only SELECT on mep_schema_version, so the silo's runtime role can run it.
    /// </summary>
    public static async Task<int> VerifyAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        var catalog = MigrationCatalog.PostgreSql;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (var exists = new NpgsqlCommand("SELECT to_regclass('mep_schema_version') IS NOT NULL", connection))
        {
            if (!(bool)(await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!)
            {
                throw new SchemaException(
                    $"database {connection.Database} has no MEP schema (no table {VersionTable}): run `mep db init` as its owner");
            }
        }

        var applied = await ReadAppliedAsync(connection, null, cancellationToken).ConfigureAwait(false);
        var pending = Compare(catalog, applied);
        if (pending.Count > 0)
        {
            throw new SchemaException(
                $"database {connection.Database} has MEP schema version {(applied.Count == 0 ? 0 : applied[^1].Version)}, this program needs "
                + $"{catalog.LatestVersion} ({string.Join(", ", pending.Select(Label))} not applied): run `mep db init` as its owner");
        }
        return catalog.LatestVersion;
    }

    /// <summary>The rows of mep_schema_version, in version order.</summary>
    public static async Task<IReadOnlyList<AppliedMigration>> ReadAppliedAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction,
        CancellationToken cancellationToken = default)
    {
        await using var command = new NpgsqlCommand(
            "SELECT version, name, sha256, applied_at FROM mep_schema_version ORDER BY version", connection, transaction);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<AppliedMigration>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(new AppliedMigration(reader.GetInt32(0), reader.GetString(1), reader.GetString(2),
                reader.GetFieldValue<DateTimeOffset>(3)));
        }
        return rows;
    }

    /// <summary>The migrations still to apply; throws when the applied ones are not a prefix of ours, unchanged.</summary>
    internal static IReadOnlyList<Migration> Compare(MigrationCatalog catalog, IReadOnlyList<AppliedMigration> applied)
    {
        foreach (var row in applied)
        {
            if (row.Version > catalog.LatestVersion)
            {
                throw new SchemaException(
                    $"the database has MEP schema version {applied[^1].Version} ({row.Version:D4}_{row.Name}), newer than this "
                    + $"program's {catalog.LatestVersion}: run a MEP release at least as new as the one that initialised it");
            }
            var ours = catalog.Migrations[row.Version - 1];
            if (!string.Equals(ours.Sha256, row.Sha256, StringComparison.Ordinal) || !string.Equals(ours.Name, row.Name, StringComparison.Ordinal))
            {
                throw new SchemaException(
                    $"migration {row.Version:D4}_{row.Name} was applied with checksum {row.Sha256}, but this program's "
                    + $"{Label(ours)} has {ours.Sha256}: a released migration was edited; restore the original script "
                    + "(schema changes go into a new migration)");
            }
        }
        for (var i = 0; i < applied.Count; i++)
        {
            if (applied[i].Version != i + 1)
            {
                throw new SchemaException(
                    $"mep_schema_version lacks version {i + 1} but records {applied[i].Version}: the record was edited by hand");
            }
        }
        return catalog.Migrations.Skip(applied.Count).ToList();
    }

    private static async Task GrantAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string role, CancellationToken cancellationToken)
    {
        // Role names are checked against RoleName() and quoted, so they cannot change the statement.
        var quoted = $"\"{role}\"";
        var database = $"\"{connection.Database.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";
        try
        {
            await ExecuteAsync(connection, transaction, string.Create(CultureInfo.InvariantCulture, $"""
                GRANT CONNECT ON DATABASE {database} TO {quoted};
                GRANT USAGE ON SCHEMA public TO {quoted};
                GRANT SELECT, INSERT, UPDATE, DELETE ON {string.Join(", ", RuntimeTables)} TO {quoted};
                GRANT SELECT ON {string.Join(", ", ReadOnlyTables)} TO {quoted};
                """), cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedObject)
        {
            throw new SchemaException($"cannot grant the runtime rights to role {role}: {e.MessageText}; nothing was changed");
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static string Label(Migration m) => $"{m.Version:D4}_{m.Name}";

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex RoleName();
}

/// <summary>A row of mep_schema_version.</summary>
public sealed record AppliedMigration(int Version, string Name, string Sha256, DateTimeOffset AppliedAt);

/// <summary>What <see cref="PostgreSqlSchema.MigrateAsync"/> did.</summary>
/// <param name="FromVersion">The schema version before.</param>
/// <param name="ToVersion">The schema version after (this program's).</param>
/// <param name="Applied">The migrations applied by this run; empty when the database was up to date.</param>
/// <param name="GrantedTo">The roles given the runtime rights.</param>
public sealed record MigrationResult(int FromVersion, int ToVersion, IReadOnlyList<Migration> Applied, IReadOnlyList<string> GrantedTo);
