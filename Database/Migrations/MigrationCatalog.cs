using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Mep.Database.Migrations;

/// <summary>The migrations this program ships for one database provider, read from its embedded resources.</summary>
public sealed partial class MigrationCatalog
{
    private MigrationCatalog(string provider, IReadOnlyList<Migration> migrations)
    {
        Provider = provider;
        Migrations = migrations;
    }

    /// <summary>PostgreSQL: Database/Sql/PostgreSql/*.sql.</summary>
    public static MigrationCatalog PostgreSql { get; } = Load("PostgreSql");

    public string Provider { get; }

    /// <summary>In version order, starting at 1, without gaps.</summary>
    public IReadOnlyList<Migration> Migrations { get; }

    /// <summary>The schema version this program expects: the last migration's.</summary>
    public int LatestVersion => Migrations.Count == 0 ? 0 : Migrations[^1].Version;

    /// <summary>Lower-case hex SHA-256 of the text with CRLF turned into LF, so a checkout's line endings do not matter.</summary>
    public static string Checksum(string sql) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sql.Replace("\r\n", "\n", StringComparison.Ordinal))));

    internal static MigrationCatalog Load(string provider)
    {
        var assembly = typeof(MigrationCatalog).Assembly;
        var prefix = $"Mep.Database.Sql.{provider}.";
        var migrations = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            var file = resource[prefix.Length..];
            var match = FileName().Match(file);
            if (!match.Success)
            {
                throw new InvalidOperationException($"embedded migration '{file}' is not named NNNN_name.sql");
            }
            var sql = Read(assembly, resource);
            migrations.Add(new Migration(int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), match.Groups[2].Value, sql, Checksum(sql)));
        }
        migrations.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 0; i < migrations.Count; i++)
        {
            if (migrations[i].Version != i + 1)
            {
                throw new InvalidOperationException(
                    $"{provider} migrations must be numbered 1, 2, 3, … without gaps or repeats; found {migrations[i].Version} at position {i + 1}");
            }
        }
        return new MigrationCatalog(provider, migrations);
    }

    private static string Read(Assembly assembly, string resource)
    {
        using var stream = assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"embedded migration {resource} cannot be opened");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    [GeneratedRegex(@"^(\d{4})_([a-z0-9_]+)\.sql$", RegexOptions.CultureInvariant)]
    private static partial Regex FileName();
}
