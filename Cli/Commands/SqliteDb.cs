using Mep.Database.Sqlite;
using Microsoft.Data.Sqlite;

namespace Mep.Cli.Commands;

/// <summary><c>mep db init|status --provider sqlite --database FILE</c>: the single-node store's schema, versioned in
/// its <c>MepSchemaVersion</c> table, applied by the same code the silo runs at start.</summary>
internal static class SqliteDb
{
    public static async Task<int> InitAsync(CliContext context, string path, CancellationToken ct)
    {
        var change = await Run(path, () => SqliteStorageInitializer.InitializeAsync(path, ct));
        context.Out.WriteLine(change.FromVersion == change.ToVersion
            ? $"up to date (schema version {change.ToVersion})"
            : $"schema version {change.FromVersion?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"} -> {change.ToVersion}");
        return CliContext.ExitOk;
    }

    public static async Task<int> StatusAsync(CliContext context, string path, CancellationToken ct)
    {
        var stored = await Run(path, () => SqliteStorageInitializer.ReadStoredVersionAsync(path, ct));
        if (stored == SqliteStorageSchema.Version)
        {
            context.Out.WriteLine($"up to date (schema version {stored})");
            return CliContext.ExitOk;
        }

        context.Error.WriteLine(stored is null
            ? $"mep: {Path.GetFullPath(path)} has no MEP schema: run mep db init --provider sqlite --database {path}"
            : stored < SqliteStorageSchema.Version
                ? $"mep: {Path.GetFullPath(path)} has schema version {stored}, behind this program's {SqliteStorageSchema.Version}: run mep db init"
                : $"mep: {Path.GetFullPath(path)} has schema version {stored}, newer than this program's {SqliteStorageSchema.Version}");
        return DbCommands.ExitSchemaRefused;
    }

    /// <summary>A missing, unreadable or not-SQLite file is a usage error (exit 2) naming the file; a newer schema
    /// (SchemaException) passes through to exit 1.</summary>
    private static async Task<T> Run<T>(string path, Func<Task<T>> action)
    {
        try
        {
            return await action();
        }
        catch (Exception e) when (e is SqliteException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            throw new UsageException($"--database {path}: {e.Message.ReplaceLineEndings(" ")}");
        }
    }
}
