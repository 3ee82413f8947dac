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
            return NpgsqlDataSource.Create(Mep.Database.PostgreSql.ConnectionStringFile.Read(ConnectionStringFile!));
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"Mep:Database:ConnectionStringFile: {e.Message}", e);
        }
    }

    /// <summary>The address other silos reach this one at, from Mep:Cluster:Address.</summary>
    internal static IPAddress ParseAddress(string address) =>
        IPAddress.TryParse(address, out var parsed)
            ? parsed
            : throw new InvalidOperationException($"Mep:Cluster:Address '{address}' is not an IP address");
}
