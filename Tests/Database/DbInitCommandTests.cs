using Mep.Database.PostgreSql;
using Mep.Silo.Database;
using Mep.Tests.Cli;
using Mep.Tests.Infrastructure;
using Mep.Tests.Storage;
using Orleans.TestingHost;
using Xunit;

namespace Mep.Tests.Database;

/// <summary><c>mep db init</c> / <c>mep db status</c> against a real PostgreSQL, and the silo's start-time schema check.</summary>
public sealed class DbInitCommandTests : IAsyncLifetime
{
    private TestDatabase db = null!;

    public async Task InitializeAsync() => db = await PostgresServer.CreateDatabaseAsync();

    public async Task DisposeAsync() => await db.DisposeAsync();

    [Fact]
    public async Task Init_AppliesThenSaysUpToDate_AndStatusAgrees()
    {
        var before = await CliRunner.RunAsync("db", "status", "--connection-string-file", db.OwnerConnectionFile);
        Assert.Equal(1, before.ExitCode);
        Assert.Contains("mep db init", before.Stderr, StringComparison.Ordinal);

        var first = await CliRunner.RunAsync("db", "init", "--provider", "postgresql", "--connection-string-file", db.OwnerConnectionFile,
            "--grant-to", db.RuntimeRole);
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Equal(
            ["applied 0001_orleans_membership", "applied 0002_grain_state", "applied 0003_reminders", "applied 0004_tasks",
                "schema version 0 -> 4",
                $"granted runtime rights to {db.RuntimeRole}"],
            first.StdoutLines);

        var second = await CliRunner.RunAsync("db", "init", "--connection-string-file", db.OwnerConnectionFile);
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Equal(["up to date (schema version 4)"], second.StdoutLines);

        // The silo's role may check the schema, which is all it needs at start.
        var status = await CliRunner.RunAsync("db", "status", "--connection-string-file", db.RuntimeConnectionFile);
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Equal(5, status.StdoutLines.Length);
        Assert.Equal("up to date (schema version 4)", status.StdoutLines[^1]);
    }

    [Fact]
    public async Task Init_RefusesAnEditedMigration_WithExitOneAndOneLine()
    {
        Assert.Equal(0, (await CliRunner.RunAsync("db", "init", "--connection-string-file", db.OwnerConnectionFile)).ExitCode);
        await db.ExecuteAsync("UPDATE mep_schema_version SET sha256 = repeat('f', 64) WHERE version = 1");

        var run = await CliRunner.RunAsync("db", "init", "--connection-string-file", db.OwnerConnectionFile);
        Assert.Equal(1, run.ExitCode);
        var line = Assert.Single(run.StderrLines);
        Assert.StartsWith("mep: migration 0001_orleans_membership was applied with checksum", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Init_FailsWithOneLine_OnABadFileOrBadCredentials()
    {
        var dir = Directory.CreateTempSubdirectory("mep-dbinit-").FullName;
        try
        {
            var missing = await CliRunner.RunAsync("db", "init", "--connection-string-file", Path.Combine(dir, "nope"));
            Assert.Equal(2, missing.ExitCode);
            Assert.Contains("does not exist", Assert.Single(missing.StderrLines), StringComparison.Ordinal);

            var open = Path.Combine(dir, "open");
            await File.WriteAllTextAsync(open, db.OwnerConnectionString);
            File.SetUnixFileMode(open, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            var readable = await CliRunner.RunAsync("db", "init", "--connection-string-file", open);
            Assert.Equal(2, readable.ExitCode);
            Assert.Contains("readable by others", Assert.Single(readable.StderrLines), StringComparison.Ordinal);

            var wrong = Path.Combine(dir, "wrong");
            await File.WriteAllTextAsync(wrong, db.OwnerConnectionString.Replace("Password=", "Password=x", StringComparison.Ordinal));
            File.SetUnixFileMode(wrong, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var denied = await CliRunner.RunAsync("db", "init", "--connection-string-file", wrong);
            Assert.Equal(2, denied.ExitCode);
            var line = Assert.Single(denied.StderrLines);
            Assert.Contains("password authentication failed", line, StringComparison.Ordinal);
            Assert.Contains(db.Name, line, StringComparison.Ordinal);
            Assert.DoesNotContain("Password=", line, StringComparison.Ordinal);

            var provider = await CliRunner.RunAsync("db", "init", "--provider", "oracle", "--connection-string-file", db.OwnerConnectionFile);
            Assert.Equal(2, provider.ExitCode);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Silo_OnAnUninitialisedDatabase_RefusesToStart_SayingRunDbInit()
    {
        await using var runtime = db.RuntimeDataSource();
        var builder = new InProcessTestClusterBuilder(1);
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSilo((_, silo) => silo.AddMepPostgreSqlGrainStorage(StorageTestGrain.ProviderName, runtime));
        await using var cluster = builder.Build();
        var e = await Assert.ThrowsAnyAsync<Exception>(() => cluster.DeployAsync());
        Assert.Contains("mep db init", Flatten(e), StringComparison.Ordinal);
    }

    [Fact]
    public void Settings_AreValidated()
    {
        new DatabaseSettings().Validate();
        new DatabaseSettings { Provider = "postgresql", ConnectionStringFile = "/x" }.Validate();
        Assert.Contains("ConnectionStringFile is required",
            Assert.Throws<InvalidOperationException>(() => new DatabaseSettings { Provider = "postgresql" }.Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("not one of",
            Assert.Throws<InvalidOperationException>(() => new DatabaseSettings { Provider = "mysql" }.Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("Provider is sqlite",
            Assert.Throws<InvalidOperationException>(() => new DatabaseSettings { ConnectionStringFile = "/x" }.Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("does not exist",
            Assert.Throws<InvalidOperationException>(() => new DatabaseSettings { Provider = "postgresql", ConnectionStringFile = "/nonexistent/pg" }
                .CreatePostgreSqlDataSource()).Message, StringComparison.Ordinal);
    }

    private static string Flatten(Exception e) => e is AggregateException a
        ? string.Join(" | ", a.Flatten().InnerExceptions.Select(Flatten))
        : e.Message + (e.InnerException is { } inner ? " | " + Flatten(inner) : "");
}
