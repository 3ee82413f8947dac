namespace Mep.Database.Migrations;

/// <summary>
/// The database's schema is not one this program can use: missing, behind, ahead, or with an applied migration whose
/// recorded checksum differs from the script this program ships. The message says what to do.
/// </summary>
public sealed class SchemaException(string message) : Exception(message);
