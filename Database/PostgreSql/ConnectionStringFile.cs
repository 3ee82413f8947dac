using Npgsql;

namespace Mep.Database.PostgreSql;

/// <summary>
/// Reads a PostgreSQL connection string from a file that only its owner may read: it carries a password, like the
/// broker's admin password file. Errors name the file and the problem, never the file's content.
/// </summary>
public static class ConnectionStringFile
{
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>The connection string in <paramref name="path"/>, checked to be private and well formed.</summary>
    public static NpgsqlConnectionStringBuilder Read(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("connection string files rely on Unix file modes");
        }
        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"connection string file {path} does not exist");
        }
        var mode = File.GetUnixFileMode(path);
        if ((mode & GroupOrOther) != 0)
        {
            throw new InvalidOperationException(
                $"connection string file {path} is readable by others (mode {Convert.ToString((int)mode, 8)}): it holds a password; chmod 600 it");
        }
        var text = File.ReadAllText(path).Trim();
        if (text.Length == 0)
        {
            throw new InvalidOperationException($"connection string file {path} is empty");
        }
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(text);
        }
        catch (ArgumentException e)
        {
            // The exception text may quote the string; say only which key is wrong.
            throw new InvalidOperationException($"connection string file {path} does not hold a valid Npgsql connection string ({e.ParamName ?? "syntax"})");
        }
        if (string.IsNullOrEmpty(builder.Host) || string.IsNullOrEmpty(builder.Database) || string.IsNullOrEmpty(builder.Username))
        {
            throw new InvalidOperationException($"connection string file {path} must name Host, Database and Username");
        }
        return builder;
    }
}
