using System.Security.Cryptography;

namespace Mep.Cli;

/// <summary>The token signing key file: the base64 of at least 32 random bytes, readable by its owner only.</summary>
internal static class SigningKeyFile
{
    public const int MinimumBytes = 32;
    public const UnixFileMode Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Writes a new key. Never replaces an existing file: a replaced key silently invalidates every token.</summary>
    public static void Create(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new UsageException("'mep token key create' needs Unix file modes (Linux, macOS)");
        }

        var full = Path.GetFullPath(path);
        if (File.Exists(full) || Directory.Exists(full))
        {
            throw new UsageException($"key file '{path}' already exists; remove it first to replace the key");
        }

        var directory = Path.GetDirectoryName(full);
        if (directory is not null && !Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var key = RandomNumberGenerator.GetBytes(MinimumBytes);
        // CreateNew with the mode set at open: the key is never on disk with wider permissions, not even briefly.
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = Mode };
        using (var stream = new FileStream(full, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.WriteLine(Convert.ToBase64String(key));
        }

        CryptographicOperations.ZeroMemory(key);
    }

    public static byte[] Read(string path, string source)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new UsageException($"{source} '{path}' does not exist (create one with 'mep token key create {path}')");
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new UsageException($"{source} '{path}' cannot be read: {e.Message}");
        }

        byte[] key;
        try
        {
            key = Convert.FromBase64String(text.Trim());
        }
        catch (FormatException)
        {
            throw new UsageException($"{source} '{path}' does not hold base64 text");
        }

        if (key.Length < MinimumBytes)
        {
            throw new UsageException($"{source} '{path}' holds {key.Length} bytes; a signing key needs at least {MinimumBytes}");
        }

        return key;
    }
}
