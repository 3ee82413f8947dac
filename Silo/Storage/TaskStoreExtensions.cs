using Mep.Database.Tasks;
using Mep.Grains.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;

namespace Mep.Silo.Storage;

/// <summary>The task store (<see cref="TaskStore"/>) on the database that holds the grain state.</summary>
public static class TaskStoreExtensions
{
    /// <summary>The task store in the SQLite file of a grain storage added with
    /// <see cref="SqliteGrainStorageExtensions.AddSqliteGrainStorage"/> (its schema creates the table).</summary>
    public static ISiloBuilder AddMepSqliteTaskStore(this ISiloBuilder builder, string databasePath)
    {
        var fullPath = Path.GetFullPath(databasePath);
        var registration = builder.Services
            .Select(d => d.ImplementationInstance)
            .OfType<SqliteStorageRegistration>()
            .FirstOrDefault(r => r.DatabasePath == fullPath)
            ?? throw new InvalidOperationException($"the task store needs the SQLite grain storage on {fullPath} to be added first");
        return builder.AddMepTaskStore(sp => new SqliteTaskTable(registration.DataSource, ServiceId(sp)));
    }

    /// <summary>The task store on PostgreSQL (table mep_task, migration 0004).</summary>
    public static ISiloBuilder AddMepPostgreSqlTaskStore(this ISiloBuilder builder, NpgsqlDataSource dataSource) =>
        builder.AddMepTaskStore(sp => new PostgreSqlTaskTable(dataSource, ServiceId(sp)));

    private static ISiloBuilder AddMepTaskStore(this ISiloBuilder builder, Func<IServiceProvider, ITaskTable> table)
    {
        builder.Services.AddSingleton(sp =>
        {
            var writer = new TaskWriteBatcher(table(sp));
            writer.Committed += Mep.Grains.Telemetry.MepMetrics.TaskStoreCommit;
            return writer;
        });
        builder.Services.AddSingleton<TaskStore>();
        return builder;
    }

    private static string ServiceId(IServiceProvider services) => services.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId;
}
