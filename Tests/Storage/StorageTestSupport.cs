using Mep.Database.Sqlite;
using Mep.Silo.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Orleans.TestingHost;

namespace Mep.Tests.Storage;

/// <summary>A fresh directory per test (its database does not exist yet), removed afterwards.</summary>
internal sealed class StorageTempDirectory : IDisposable
{
    public StorageTempDirectory()
    {
        Root = Path.Combine(Path.GetTempPath(), "mep-storage-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        // A subdirectory that does not exist yet, so the initializer has to create it.
        DatabasePath = Path.Combine(Root, "state", "grains.db");
    }

    public string Root { get; }

    public string DatabasePath { get; }

    public void Dispose()
    {
        // Pooled connections keep the file open; release them before deleting.
        SqliteConnection.ClearAllPools();
        Directory.Delete(Root, recursive: true);
    }
}

internal static class StorageCluster
{
    public static async Task<InProcessTestCluster> StartAsync(string databasePath, string serviceId,
        Action<SqliteGrainStorageOptions>? configure = null)
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.Options.ServiceId = serviceId;
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSilo((_, silo) => silo.AddSqliteGrainStorage(StorageTestGrain.ProviderName, databasePath, configure));
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    public static IGrainStorage Storage(this InProcessTestCluster cluster) =>
        cluster.GetSiloServiceProvider().GetRequiredKeyedService<IGrainStorage>(StorageTestGrain.ProviderName);
}

/// <summary>Reads the database behind the provider's back, to check what is really stored.</summary>
internal static class StorageDb
{
    public static SqliteConnection Open(string databasePath)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
        }.ToString());
        connection.Open();
        return connection;
    }

    public static object? Scalar(string databasePath, string sql, params (string Name, object? Value)[] parameters)
    {
        using var connection = Open(databasePath);
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command.ExecuteScalar();
    }

    public static long Count(string databasePath, string sql, params (string Name, object? Value)[] parameters) =>
        Convert.ToInt64(Scalar(databasePath, sql, parameters), System.Globalization.CultureInfo.InvariantCulture);
}
