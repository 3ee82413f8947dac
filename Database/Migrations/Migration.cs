namespace Mep.Database.Migrations;

/// <summary>One versioned schema script: <c>NNNN_name.sql</c>, applied once, never edited after release.</summary>
/// <param name="Version">The number in the file name; versions are 1, 2, 3, … without gaps.</param>
/// <param name="Name">The rest of the file name, without the extension.</param>
/// <param name="Sql">The script text.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the script (line endings normalised to LF), recorded when applied.</param>
public sealed record Migration(int Version, string Name, string Sql, string Sha256);
