using Mep.Database.Sqlite;
using Mep.Tests.Cli;
using Microsoft.Data.Sqlite;
using Xunit;

namespace Mep.Tests.Database;

/// <summary><c>mep db init|status --provider sqlite</c> on a real file: the single node's store, versioned and
/// applied idempotently by the same code the silo runs at start.</summary>
public sealed class SqliteDbCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mep-sqlite-db-").FullName;

    private string DbFile => Path.Combine(_dir, "data", "mep.db");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Init_creates_an_owner_only_file_then_says_up_to_date_and_status_agrees()
    {
        var missing = await CliRunner.RunAsync("db", "status", "--provider", "sqlite", "--database", DbFile);
        Assert.Equal(2, missing.ExitCode);
        Assert.StartsWith("mep: --database ", Assert.Single(missing.StderrLines), StringComparison.Ordinal);
        Assert.False(File.Exists(DbFile), "status created the file");

        var first = await CliRunner.RunAsync("db", "init", "--provider", "sqlite", "--database", DbFile);
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Equal([$"schema version none -> {SqliteStorageSchema.Version}"], first.StdoutLines);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(DbFile));

        var second = await CliRunner.RunAsync("db", "init", "--provider", "sqlite", "--database", DbFile);
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Equal([$"up to date (schema version {SqliteStorageSchema.Version})"], second.StdoutLines);

        var status = await CliRunner.RunAsync("db", "status", "--provider", "sqlite", "--database", DbFile);
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Equal([$"up to date (schema version {SqliteStorageSchema.Version})"], status.StdoutLines);
    }

    [Fact]
    public async Task A_file_of_a_newer_mep_is_refused_by_init_and_status_with_exit_one()
    {
        Assert.Equal(0, (await CliRunner.RunAsync("db", "init", "--provider", "sqlite", "--database", DbFile)).ExitCode);
        await using (var connection = new SqliteConnection($"Data Source={DbFile};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var bump = connection.CreateCommand();
            bump.CommandText = "UPDATE MepSchemaVersion SET Version = Version + 1";
            Assert.Equal(1, await bump.ExecuteNonQueryAsync());
        }

        var init = await CliRunner.RunAsync("db", "init", "--provider", "sqlite", "--database", DbFile);
        Assert.Equal(1, init.ExitCode);
        Assert.Contains("newer than", Assert.Single(init.StderrLines), StringComparison.Ordinal);
        var status = await CliRunner.RunAsync("db", "status", "--provider", "sqlite", "--database", DbFile);
        Assert.Equal(1, status.ExitCode);
        Assert.Contains("newer than", Assert.Single(status.StderrLines), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sqlite", "--connection-string-file", "--database")]
    [InlineData("sqlite", "", "--database")]
    [InlineData("postgresql", "--database", "--connection-string-file")]
    [InlineData("postgresql", "", "--connection-string-file")]
    public async Task The_wrong_target_option_for_the_provider_is_a_usage_error_naming_the_option(string provider, string given, string named)
    {
        string[] args = given == "" ? ["db", "init", "--provider", provider] : ["db", "init", "--provider", provider, given, DbFile];
        var run = await CliRunner.RunAsync(args);
        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith($"mep: {named}", Assert.Single(run.StderrLines), StringComparison.Ordinal);
        Assert.False(File.Exists(DbFile));
    }
}
