using Mep.Database.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Providers;
using Orleans.Serialization;
using Orleans.Storage;

namespace Mep.Silo.Storage;

/// <summary>Orleans ADO.NET grain storage on a local SQLite file.</summary>
public static class SqliteGrainStorageExtensions
{
    /// <summary>
    /// The invariant under which Orleans 10.4.2 knows SQLite. It maps it to Microsoft.Data.Sqlite's SqliteFactory;
    /// "Microsoft.Data.Sqlite" itself is rejected as unsupported. A DataSource does not bypass this lookup (the
    /// provider checks that the data source's connections are of the invariant's type), and the invariant also selects
    /// the provider's behaviour flags (for SQLite: asynchronous API, no command interceptor).
    /// </summary>
    public const string Invariant = "System.Data.SQLite";

    /// <summary>
    /// Adds Orleans ADO.NET grain storage named <paramref name="name"/> on the SQLite file at
    /// <paramref name="databasePath"/>, with our schema applied when the silo starts.
    /// </summary>
    /// <remarks>
    /// The provider keys rows by (ServiceId, [PersistentState] name, grain key): neither the grain type nor the provider
    /// name is part of the key. Give every grain class its own state names, and every provider its own file; a second
    /// provider on the same file in one silo is refused. State is serialised with System.Text.Json.
    /// </remarks>
    public static ISiloBuilder AddSqliteGrainStorage(this ISiloBuilder builder, string name, string databasePath,
        Action<SqliteGrainStorageOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(databasePath);

        var settings = new SqliteGrainStorageOptions();
        configure?.Invoke(settings);
        settings.Validate();
        var fullPath = Path.GetFullPath(databasePath);

        var claimed = builder.Services
            .Select(d => d.ImplementationInstance)
            .OfType<SqliteStorageRegistration>()
            .FirstOrDefault(r => r.DatabasePath == fullPath);
        if (claimed is not null)
        {
            throw new InvalidOperationException(
                $"SQLite grain storage '{name}': {fullPath} is already used by provider '{claimed.Name}'; the provider name "
                + "is not part of a row's key, so two providers on one file would overwrite each other's state");
        }

        var registration = new SqliteStorageRegistration(name, fullPath, settings);
        builder.Services.AddSingleton(registration);
        builder.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp =>
            new SqliteStorageSchemaParticipant(registration, sp.GetRequiredService<ILogger<SqliteStorageSchemaParticipant>>()));

        return builder.AddAdoNetGrainStorage(name, optionsBuilder =>
            optionsBuilder.Configure<IOptions<SystemTextJsonGrainStorageSerializerOptions>>((options, json) =>
            {
                options.Invariant = Invariant;
                options.DataSource = registration.DataSource;
                options.ConnectionString = null;
                options.DeleteStateOnClear = settings.DeleteStateOnClear;
                // Per provider, so the silo-wide default serializer (Newtonsoft JSON) is left as it is for others.
                options.GrainStorageSerializer = new SystemTextJsonGrainStorageSerializer(json);
            }));
    }

    /// <summary>As <see cref="AddSqliteGrainStorage"/>, as the provider that grains get when they name none.</summary>
    public static ISiloBuilder AddSqliteGrainStorageAsDefault(this ISiloBuilder builder, string databasePath,
        Action<SqliteGrainStorageOptions>? configure = null) =>
        builder.AddSqliteGrainStorage(ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME, databasePath, configure);
}

/// <summary>One provider's file, settings and the data source the Orleans provider opens connections from.</summary>
internal sealed class SqliteStorageRegistration(string name, string databasePath, SqliteGrainStorageOptions options)
{
    public string Name { get; } = name;
    public string DatabasePath { get; } = databasePath;
    public SqliteGrainStorageOptions Options { get; } = options;
    public SqliteStorageDataSource DataSource { get; } = new(databasePath, options);
}
