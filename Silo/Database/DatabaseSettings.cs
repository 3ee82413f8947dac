using System.Net;
using Mep.Database.PostgreSql;
using Npgsql;

namespace Mep.Silo.Database;

/// <summary>
/// Where the silo keeps grain state, membership and reminders (section <c>Mep:Database</c>).
/// <c>sqlite</c> (default): one node, SQLite file in the data directory, localhost clustering: what MEP ran before.
/// <c>postgresql</c>: ADO.NET clustering, grain storage and reminders on the database named by
/// <see cref="ConnectionStringFile"/>, whose schema <c>mep db init</c> applied beforehand.
/// </summary>
public sealed class DatabaseSettings
{
    public const string Sqlite = "sqlite";
    public const string PostgreSql = "postgresql";

    public string Provider { get; set; } = Sqlite;

    /// <summary>PostgreSQL only: a file (mode 0600, owned by the silo's account) holding the Npgsql connection string.</summary>
    public string? ConnectionStringFile { get; set; }

    public bool IsPostgreSql => string.Equals(Provider, PostgreSql, StringComparison.Ordinal);

    /// <summary>Throws with a message naming the setting when the combination is not one the silo can run with.</summary>
    public void Validate()
    {
        switch (Provider)
        {
            case Sqlite:
                if (!string.IsNullOrEmpty(ConnectionStringFile))
                {
                    throw new InvalidOperationException(
                        "Mep:Database:ConnectionStringFile is set but Mep:Database:Provider is sqlite: set Provider to postgresql, or drop the file setting");
                }
                break;
            case PostgreSql:
                if (string.IsNullOrWhiteSpace(ConnectionStringFile))
                {
                    throw new InvalidOperationException("Mep:Database:Provider is postgresql: Mep:Database:ConnectionStringFile is required");
                }
                break;
            default:
                throw new InvalidOperationException($"Mep:Database:Provider '{Provider}' is not one of: {Sqlite}, {PostgreSql}");
        }
    }

    /// <summary>The data source all PostgreSQL providers of the silo share (PostgreSQL only).</summary>
    public NpgsqlDataSource CreatePostgreSqlDataSource()
    {
        Validate();
        if (!IsPostgreSql)
        {
            throw new InvalidOperationException("Mep:Database:Provider is not postgresql");
        }
        try
        {
            var connection = Mep.Database.PostgreSql.ConnectionStringFile.Read(ConnectionStringFile!);
            RequireVerifiedTls(connection);
            return NpgsqlDataSource.Create(connection);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"Mep:Database:ConnectionStringFile: {e.Message}", e);
        }
    }

    /// <summary>
    /// Grain state, task arguments and results travel on this connection: to a database off this node it must be TLS
    /// with the server's certificate and host name checked (<c>SSL Mode=VerifyFull</c>); only a loopback database may
    /// be reached otherwise.
    /// </summary>
    internal static void RequireVerifiedTls(NpgsqlConnectionStringBuilder connection)
    {
        var hosts = (connection.Host ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(h => h.Split(':')[0]);
        var remote = hosts.FirstOrDefault(h => h != "localhost" && !h.StartsWith('/') && !(IPAddress.TryParse(h, out var ip) && IPAddress.IsLoopback(ip)));
        if (remote is not null && connection.SslMode != SslMode.VerifyFull)
        {
            throw new InvalidOperationException(
                $"the database at '{remote}' must be reached with SSL Mode=VerifyFull (and Root Certificate=CA file), not {connection.SslMode}: "
                + "only a database on loopback may be reached without a verified TLS connection");
        }
    }

    /// <summary>The address other silos reach this one at, from Mep:Cluster:Address.</summary>
    internal static IPAddress ParseAddress(string address) =>
        IPAddress.TryParse(address, out var parsed)
            ? parsed
            : throw new InvalidOperationException($"Mep:Cluster:Address '{address}' is not an IP address");
}
