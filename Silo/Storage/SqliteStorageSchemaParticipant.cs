using Mep.Database.Sqlite;
using Microsoft.Extensions.Logging;

namespace Mep.Silo.Storage;

/// <summary>
/// Applies the schema in the silo lifecycle, at RuntimeStorageServices (6000): before the ADO.NET provider's own init
/// (ApplicationServices, 10000) reads its queries from OrleansQuery, and before any grain can activate. Doing it here
/// rather than at registration keeps file I/O out of service configuration and makes a failure fail the silo start.
/// </summary>
internal sealed partial class SqliteStorageSchemaParticipant(SqliteStorageRegistration registration, ILogger<SqliteStorageSchemaParticipant> logger)
    : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe($"{nameof(SqliteStorageSchemaParticipant)}-{registration.Name}",
            ServiceLifecycleStage.RuntimeStorageServices, StartAsync);

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        await SqliteStorageInitializer.InitializeAsync(registration.DatabasePath, registration.Options, cancellationToken).ConfigureAwait(false);
        LogApplied(registration.Name, registration.DatabasePath, SqliteStorageSchema.Version);
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "SQLite grain storage '{Provider}' ready at {Path} (schema version {Version})")]
    private partial void LogApplied(string provider, string path, int version);
}
