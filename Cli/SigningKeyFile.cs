using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.Tokens;

namespace Mep.Cli;

/// <summary>A loaded development signing key: ES256 (P-256) and its key id (the JWK thumbprint).</summary>
internal sealed record DevSigningKey(ECDsa Key, string KeyId);

/// <summary>
/// The development token key: an ES256 (P-256) private key in a PEM file readable by its owner only, and its public
/// key as a JWKS file (world-readable) that the silo is configured with (<c>Mep:Auth:Issuers:N:JwksFile</c>).
/// </summary>
internal static class SigningKeyFile
{
    public const UnixFileMode Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode JwksMode = Mode | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public static string DefaultJwksPath(string keyPath) => keyPath + ".jwks.json";

    /// <summary>
    /// Writes a new key and its JWKS. Never replaces either file: a replaced key silently invalidates every token, a
    /// replaced JWKS every other key it published.
    /// </summary>
    /// <returns>The key id.</returns>
    public static string Create(string path, string jwksPath)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new UsageException("'mep token key create' needs Unix file modes (Linux, macOS)");
        }

        var full = Path.GetFullPath(path);
        var fullJwks = Path.GetFullPath(jwksPath);
        if (full == fullJwks)
        {
            throw new UsageException("the key file and the JWKS file must differ");
        }

        foreach (var (file, given, what) in new[] { (full, path, "key file"), (fullJwks, jwksPath, "JWKS file") })
        {
            if (File.Exists(file) || Directory.Exists(file))
            {
                throw new UsageException($"{what} '{given}' already exists; remove it first to replace the key");
            }

            // The key is protected by its own mode; the directory must let the silo reach the JWKS.
            var directory = Path.GetDirectoryName(file);
            if (directory is not null && !Directory.Exists(directory))
            {
                Directory.CreateDirectory(directory, Mode | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute
                    | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            }
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var keyId = KeyId(key);
        // CreateNew with the mode set at open: the key is never on disk with wider permissions, not even briefly.
        Write(full, key.ExportPkcs8PrivateKeyPem(), Mode);
        try
        {
            Write(fullJwks, Jwks(key, keyId), JwksMode);
            File.SetUnixFileMode(fullJwks, JwksMode); // the umask may have narrowed it; a public key is meant to be read
        }
        catch
        {
            File.Delete(full); // no key without its published JWKS: a retry must not trip over half a pair
            throw;
        }

        return keyId;
    }

    public static DevSigningKey Read(string path, string source)
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

        if (!text.Contains("-----BEGIN", StringComparison.Ordinal))
        {
            throw new UsageException($"{source} '{path}' is not a PEM private key (an HS256 key of an older MEP?); "
                + "create an ES256 key with 'mep token key create' and configure the silo with its JWKS");
        }

        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(text);
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new UsageException($"{source} '{path}' holds no EC private key: {e.Message}");
        }

        var curve = key.ExportParameters(false).Curve;
        if (!curve.IsNamed || curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
        {
            key.Dispose();
            throw new UsageException($"{source} '{path}' holds a key on another curve; ES256 needs P-256");
        }

        return new DevSigningKey(key, KeyId(key));
    }

    /// <summary>The public key as a JWKS document, the form OIDC issuers publish.</summary>
    public static string Jwks(ECDsa key, string keyId)
    {
        var p = key.ExportParameters(false);
        var jwk = new Dictionary<string, string>
        {
            ["kty"] = "EC",
            ["use"] = "sig",
            ["alg"] = SecurityAlgorithms.EcdsaSha256,
            ["kid"] = keyId,
            ["crv"] = "P-256",
            ["x"] = Base64UrlEncoder.Encode(p.Q.X!),
            ["y"] = Base64UrlEncoder.Encode(p.Q.Y!),
        };
        return JsonSerializer.Serialize(new { keys = new[] { jwk } }, new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>RFC 7638 JWK thumbprint (SHA-256, base64url): the same key always gets the same id.</summary>
    public static string KeyId(ECDsa key)
    {
        var p = key.ExportParameters(false);
        // The required members in lexicographic order, no whitespace (RFC 7638 section 3.2).
        var canonical = $"{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{Base64UrlEncoder.Encode(p.Q.X!)}\",\"y\":\"{Base64UrlEncoder.Encode(p.Q.Y!)}\"}}";
        return Base64UrlEncoder.Encode(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void Write(string path, string text, UnixFileMode mode)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode };
        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(text);
    }
}
