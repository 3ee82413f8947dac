using Mep.Silo.Database;
using Mep.Tests.Infrastructure;
using Npgsql;
using Xunit;

namespace Mep.Tests.Database;

/// <summary>
/// The database connection of a cluster (issue 11): the private server takes TCP connections over TLS only, the
/// connection strings it writes verify the server's certificate and host name, and the silo refuses a connection string
/// to a database off its node that would not.
/// </summary>
public sealed class PostgresTlsTests
{
    [Fact]
    public async Task The_silos_connection_string_is_verified_tls_and_a_plain_connection_is_refused()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync();
        var runtime = new NpgsqlConnectionStringBuilder(db.RuntimeConnectionString);

        Assert.Equal(SslMode.VerifyFull, runtime.SslMode);
        Assert.True(File.Exists(runtime.RootCertificate), $"Root Certificate '{runtime.RootCertificate}'");
        Assert.Equal(true, await db.ScalarAsync("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"));
        await using (var plain = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(db.OwnerConnectionString) { SslMode = SslMode.Disable }.ConnectionString))
        {
            var refused = await Assert.ThrowsAsync<PostgresException>(() => plain.OpenAsync());
            Assert.Equal(PostgresErrorCodes.InvalidAuthorizationSpecification, refused.SqlState); // no pg_hba entry without encryption
        }
    }

    [Theory]
    [InlineData("Host=db.site.example;Database=mep;SSL Mode=Require", "the database at 'db.site.example' must be reached with SSL Mode=VerifyFull")]
    [InlineData("Host=10.0.0.5;Database=mep", "the database at '10.0.0.5' must be reached with SSL Mode=VerifyFull")]
    [InlineData("Host=db.site.example;Database=mep;SSL Mode=VerifyFull", null)]
    [InlineData("Host=127.0.0.1;Database=mep;SSL Mode=Disable", null)]
    public void The_silo_refuses_an_unverified_connection_to_a_database_off_its_node(string connectionString, string? refusal)
    {
        var e = Record.Exception(() => DatabaseSettings.RequireVerifiedTls(new NpgsqlConnectionStringBuilder(connectionString)));

        if (refusal is null)
        {
            Assert.Null(e);
        }
        else
        {
            Assert.StartsWith(refusal, Assert.IsType<InvalidOperationException>(e).Message, StringComparison.Ordinal);
        }
    }
}
