using Mep.Database.PostgreSql;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Serialization;
using Orleans.Storage;

namespace Mep.Silo.Database;

/// <summary>
/// Orleans' ADO.NET clustering, grain storage and reminders on PostgreSQL, with MEP's own schema (Database/Sql/PostgreSql,
/// applied beforehand by <c>mep db init</c>). The silo only reads and writes rows: it never creates or alters tables.
/// </summary>
public static class PostgreSqlSiloExtensions
{
    /// <summary>The invariant under which the Orleans providers load Npgsql (by reflection, Npgsql.NpgsqlFactory).</summary>
    public const string Invariant = "Npgsql";

    /// <summary>Membership, the grain storage providers named <paramref name="storageNames"/> and reminders, all on one database.</summary>
    public static ISiloBuilder UseMepPostgreSql(this ISiloBuilder builder, NpgsqlDataSource dataSource, params string[] storageNames)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(dataSource);
        builder.UseMepPostgreSqlClustering(dataSource);
        foreach (var name in storageNames)
        {
            builder.AddMepPostgreSqlGrainStorage(name, dataSource);
        }
        return builder.UseMepPostgreSqlReminders(dataSource);
    }

    public static ISiloBuilder UseMepPostgreSqlClustering(this ISiloBuilder builder, NpgsqlDataSource dataSource)
    {
        builder.AddMepPostgreSqlSchemaCheck(dataSource);
        return builder.UseAdoNetClustering(o =>
        {
            o.Invariant = Invariant;
            o.DataSource = dataSource;
            o.ConnectionString = null;
        });
    }

    /// <summary>Grain storage named <paramref name="name"/>, state serialised with System.Text.Json as in the SQLite store.</summary>
    public static ISiloBuilder AddMepPostgreSqlGrainStorage(this ISiloBuilder builder, string name, NpgsqlDataSource dataSource,
        bool deleteStateOnClear = false)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        builder.AddMepPostgreSqlSchemaCheck(dataSource);
        return builder.AddAdoNetGrainStorage(name, optionsBuilder =>
            optionsBuilder.Configure<IOptions<SystemTextJsonGrainStorageSerializerOptions>>((options, json) =>
            {
                options.Invariant = Invariant;
                options.DataSource = dataSource;
                options.ConnectionString = null;
                options.DeleteStateOnClear = deleteStateOnClear;
                options.GrainStorageSerializer = new SystemTextJsonGrainStorageSerializer(json);
            }));
    }

    public static ISiloBuilder UseMepPostgreSqlReminders(this ISiloBuilder builder, NpgsqlDataSource dataSource)
    {
        builder.AddMepPostgreSqlSchemaCheck(dataSource);
        return builder.UseAdoNetReminderService(o =>
        {
            o.Invariant = Invariant;
            o.DataSource = dataSource;
            o.ConnectionString = null;
        });
    }

    /// <summary>Checks the schema version once at silo start, before any provider reads its queries.</summary>
    private static void AddMepPostgreSqlSchemaCheck(this ISiloBuilder builder, NpgsqlDataSource dataSource)
    {
        var existing = builder.Services.Select(d => d.ImplementationInstance).OfType<PostgreSqlSchemaRegistration>().FirstOrDefault();
        if (existing is not null)
        {
            if (!ReferenceEquals(existing.DataSource, dataSource))
            {
                throw new InvalidOperationException("MEP's PostgreSQL providers of one silo must share one data source (one database)");
            }
            return;
        }
        var registration = new PostgreSqlSchemaRegistration(dataSource);
        builder.Services.AddSingleton(registration);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<ILifecycleParticipant<ISiloLifecycle>, PostgreSqlSchemaCheck>());
    }
}

internal sealed record PostgreSqlSchemaRegistration(NpgsqlDataSource DataSource);

/// <summary>
/// Fails the silo start, with a message that says to run <c>mep db init</c>, when the database's schema is not the one
/// this silo was built for. Runs at the first lifecycle stage: membership joins at RuntimeInitialize and the storage
/// providers read their queries later, and neither should see a wrong schema first.
/// </summary>
internal sealed partial class PostgreSqlSchemaCheck(PostgreSqlSchemaRegistration registration, ILogger<PostgreSqlSchemaCheck> logger)
    : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(PostgreSqlSchemaCheck), ServiceLifecycleStage.First, StartAsync);

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        var version = await PostgreSqlSchema.VerifyAsync(registration.DataSource, cancellationToken).ConfigureAwait(false);
        LogReady(new NpgsqlConnectionStringBuilder(registration.DataSource.ConnectionString).Database ?? "", version);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "PostgreSQL schema checked ({Database}, MEP schema version {Version})")]
    private partial void LogReady(string database, int version);
}
