using Mep.Tests.Infrastructure;
using Npgsql;
using Xunit;

namespace Mep.Tests.Database;

/// <summary>scripts/postgres-node on the tests' shared server: idempotence, private credentials, refusals.</summary>
public sealed class PostgresNodeScriptTests
{
    [Fact]
    public async Task CreateDb_IsIdempotent_KeepsThePassword_AndWritesPrivateFiles()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync();
        var password = await File.ReadAllTextAsync(Path.Combine(db.ServerDirectory, "credentials", db.OwnerRole + ".password"));

        await PostgresServer.RunScriptAsync(TimeSpan.FromMinutes(1), "create-db", db.ServerDirectory, db.Name, db.OwnerRole);
        Assert.Equal(password, await File.ReadAllTextAsync(Path.Combine(db.ServerDirectory, "credentials", db.OwnerRole + ".password")));
        foreach (var file in new[] { db.OwnerConnectionFile, db.RuntimeConnectionFile, Path.Combine(db.ServerDirectory, "credentials", db.RuntimeRole + ".password") })
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        }
        Assert.Equal(db.OwnerRole, await db.ScalarAsync("SELECT current_user"));
        Assert.Equal(db.OwnerRole, await db.ScalarAsync("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"));
    }

    [Fact]
    public async Task Server_RefusesTheSuperuserOverTcp_AndBadNames()
    {
        var dir = await PostgresServer.DirectoryAsync();
        await using var db = await PostgresServer.CreateDatabaseAsync();
        var tcp = new NpgsqlConnectionStringBuilder(db.OwnerConnectionString) { Username = "postgres", Password = "guess", Database = "postgres" };
        await using (var connection = new NpgsqlConnection(tcp.ConnectionString))
        {
            // Over TCP only passwords count, and the superuser has none: it exists only on the private socket.
            var refused = await Assert.ThrowsAsync<PostgresException>(() => connection.OpenAsync());
            Assert.Equal(PostgresErrorCodes.InvalidPassword, refused.SqlState);
        }
        Assert.Equal("127.0.0.1", new NpgsqlConnectionStringBuilder(db.OwnerConnectionString).Host);
        Assert.Equal("127.0.0.1", await db.ScalarAsync("SELECT current_setting('listen_addresses')"));

        var bad = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            PostgresServer.RunScriptAsync(TimeSpan.FromMinutes(1), "create-db", dir, "x; DROP DATABASE postgres", "someone"));
        Assert.Contains("bad database name", bad.Message, StringComparison.Ordinal);
        var superuser = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            PostgresServer.RunScriptAsync(TimeSpan.FromMinutes(1), "create-role", dir, "postgres"));
        Assert.Contains("superuser", superuser.Message, StringComparison.Ordinal);
    }
}
