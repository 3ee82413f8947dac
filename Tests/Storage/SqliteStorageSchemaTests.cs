using Mep.Database.Sqlite;
using System.Runtime.Versioning;
using System.Text.RegularExpressions;
using Mep.Silo.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Hosting;
using Orleans.Storage;
using Xunit;

namespace Mep.Tests.Storage;

/// <summary>The schema, the OrleansQuery rows and the query texts, checked against SQLite directly.</summary>
[Collection(StorageCollection.Name)]
[UnsupportedOSPlatform("windows")]
public sealed partial class SqliteStorageSchemaTests : IDisposable
{
    private readonly StorageTempDirectory temp = new();

    public void Dispose() => temp.Dispose();

    [GeneratedRegex("QueryKey\\s*=\\s*'([^']+)'")]
    private static partial Regex QueryKeyPattern();

    /// <summary>The keys the installed provider selects at start, read from its own query constant.</summary>
    private static string[] KeysTheProviderReads() =>
        QueryKeyPattern().Matches(AdoNetGrainStorage.DefaultInitializationQuery).Select(m => m.Groups[1].Value).Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public async Task OrleansQuery_HoldsEveryKeyTheProviderReads()
    {
        await SqliteStorageInitializer.InitializeAsync(temp.DatabasePath);

        var expected = KeysTheProviderReads();
        Assert.Equal(["ClearStorageKey", "DeleteStorageKey", "ReadFromStorageKey", "WriteToStorageKey"], expected);
        Assert.Equal(expected, SqliteStorageQueries.All.Keys.Order(StringComparer.Ordinal));

        using var connection = StorageDb.Open(temp.DatabasePath);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT QueryKey, QueryText FROM OrleansQuery ORDER BY QueryKey";
        var rows = new List<(string Key, string Text)>();
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                rows.Add((reader.GetString(0), reader.GetString(1)));
            }
        }

        Assert.Equal(expected, rows.Select(r => r.Key));
        Assert.All(rows, r => Assert.Equal(SqliteStorageQueries.All[r.Key], r.Text));
    }

    [Fact]
    public async Task ApplyingTheSchemaTwice_IsHarmless()
    {
        await SqliteStorageInitializer.InitializeAsync(temp.DatabasePath);
        var appliedAt = StorageDb.Scalar(temp.DatabasePath, "SELECT AppliedUtc FROM MepSchemaVersion");
        WriteRow(temp.DatabasePath, extension: "keep-me", payload: [1, 2, 3]);
        // Someone edited a query: re-applying must restore ours, not add a second row.
        StorageDb.Scalar(temp.DatabasePath, "UPDATE OrleansQuery SET QueryText = 'broken' WHERE QueryKey = 'ReadFromStorageKey'");

        await SqliteStorageInitializer.InitializeAsync(temp.DatabasePath);

        Assert.Equal(1, StorageDb.Count(temp.DatabasePath, "SELECT COUNT(*) FROM MepGrainState WHERE GrainIdString = 'keep-me'"));
        Assert.Equal(SqliteStorageQueries.All.Count, StorageDb.Count(temp.DatabasePath, "SELECT COUNT(*) FROM OrleansQuery"));
        Assert.Equal(SqliteStorageQueries.Read, StorageDb.Scalar(temp.DatabasePath, "SELECT QueryText FROM OrleansQuery WHERE QueryKey = 'ReadFromStorageKey'"));
        Assert.Equal(1, StorageDb.Count(temp.DatabasePath, "SELECT COUNT(*) FROM MepSchemaVersion"));
        Assert.Equal((long)SqliteStorageSchema.Version, StorageDb.Scalar(temp.DatabasePath, "SELECT Version FROM MepSchemaVersion"));
        Assert.Equal(appliedAt, StorageDb.Scalar(temp.DatabasePath, "SELECT AppliedUtc FROM MepSchemaVersion"));
    }

    [Fact]
    public async Task ConcurrentInitializers_AllSucceed()
    {
        await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => SqliteStorageInitializer.InitializeAsync(temp.DatabasePath))));
        Assert.Equal(SqliteStorageQueries.All.Count, StorageDb.Count(temp.DatabasePath, "SELECT COUNT(*) FROM OrleansQuery"));
    }

    [Fact]
    public async Task ANewerSchemaVersion_IsRefused()
    {
        await SqliteStorageInitializer.InitializeAsync(temp.DatabasePath);
        StorageDb.Scalar(temp.DatabasePath, "UPDATE MepSchemaVersion SET Version = @v", ("@v", SqliteStorageSchema.Version + 1));

        var error = await Assert.ThrowsAsync<Mep.Database.Migrations.SchemaException>(() => SqliteStorageInitializer.InitializeAsync(temp.DatabasePath));
        Assert.Contains("newer", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnExistingWorldReadableFile_IsNarrowedTo0600()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(temp.DatabasePath)!);
        await File.WriteAllBytesAsync(temp.DatabasePath, []);
        File.SetUnixFileMode(temp.DatabasePath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        await SqliteStorageInitializer.InitializeAsync(temp.DatabasePath);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(temp.DatabasePath));
    }

    [Fact]
    public async Task NullAndEmptyKeyExtensions_AreDifferentKeys()
    {
        // The provider passes NULL for "no extension"; '' is a real (empty) string key. Both must get their own row.
        await SqliteStorageInitializer.InitializeAsync(temp.DatabasePath);
        Assert.Equal(1L, WriteRow(temp.DatabasePath, extension: null, payload: [1]));
        Assert.Equal(1L, WriteRow(temp.DatabasePath, extension: "", payload: [2]));

        Assert.Equal(2, StorageDb.Count(temp.DatabasePath, "SELECT COUNT(*) FROM MepGrainState"));
        Assert.Equal(new byte[] { 1 }, ReadPayload(temp.DatabasePath, extension: null));
        Assert.Equal(new byte[] { 2 }, ReadPayload(temp.DatabasePath, extension: ""));
    }

    [Fact]
    public async Task Write_ReturnsNoRowOnAVersionMismatch()
    {
        await SqliteStorageInitializer.InitializeAsync(temp.DatabasePath);
        Assert.Equal(1L, WriteRow(temp.DatabasePath, "v", [1]));
        Assert.Null(WriteRow(temp.DatabasePath, "v", [2]));            // insert over an existing row
        Assert.Null(WriteRow(temp.DatabasePath, "v", [2], version: 7)); // wrong version
        Assert.Equal(2L, WriteRow(temp.DatabasePath, "v", [2], version: 1));
        Assert.Equal(new byte[] { 2 }, ReadPayload(temp.DatabasePath, "v"));
    }

    [Fact]
    public void TwoProvidersOnOneFile_AreRefused()
    {
        // The provider name is not part of a row's key, so a second provider would share (and overwrite) rows.
        var builder = Host.CreateApplicationBuilder();
        InvalidOperationException? error = null;
        builder.UseOrleans(silo =>
        {
            silo.AddSqliteGrainStorage("first", temp.DatabasePath);
            silo.AddSqliteGrainStorage("other-file", temp.DatabasePath + ".other");
            error = Assert.Throws<InvalidOperationException>(() => silo.AddSqliteGrainStorage("second", temp.DatabasePath));
        });

        Assert.NotNull(error);
        Assert.Contains("'first'", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(temp.DatabasePath)); // registration alone touches no file
    }

    /// <summary>Runs our write query the way the provider does (same parameter names); returns NewGrainStateVersion.</summary>
    private static long? WriteRow(string databasePath, string? extension, byte[] payload, int? version = null)
    {
        using var connection = StorageDb.Open(databasePath);
        using var command = KeyedCommand(connection, SqliteStorageQueries.Write, extension);
        command.Parameters.AddWithValue("GrainStateVersion", (object?)version ?? DBNull.Value);
        command.Parameters.AddWithValue("PayloadBinary", payload);
        using var reader = command.ExecuteReader();
        long? result = null;
        do
        {
            while (reader.Read())
            {
                Assert.Null(result); // at most one row over all result sets: the provider calls SingleOrDefault
                result = reader.GetInt64(reader.GetOrdinal("NewGrainStateVersion"));
            }
        }
        while (reader.NextResult());

        return result;
    }

    private static byte[]? ReadPayload(string databasePath, string? extension)
    {
        using var connection = StorageDb.Open(databasePath);
        using var command = KeyedCommand(connection, SqliteStorageQueries.Read, extension);
        using var reader = command.ExecuteReader();
        return reader.Read() ? (byte[])reader["PayloadBinary"] : null;
    }

    private static SqliteCommand KeyedCommand(SqliteConnection connection, string sql, string? extension)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("ServiceId", "svc");
        command.Parameters.AddWithValue("GrainTypeString", "raw");
        command.Parameters.AddWithValue("GrainIdN0", 0L);
        command.Parameters.AddWithValue("GrainIdN1", 0L);
        command.Parameters.AddWithValue("GrainIdExtensionString", (object?)extension ?? DBNull.Value);
        command.Parameters.AddWithValue("GrainIdHash", 0);
        command.Parameters.AddWithValue("GrainTypeHash", 0);
        return command;
    }
}
