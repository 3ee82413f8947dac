namespace Mep.Grains;

public static class StorageNames
{
    /// <summary>The grain storage every MEP grain persists to (SQLite on one node, PostgreSQL on a cluster).</summary>
    public const string Mep = "mep";
}
