using Microsoft.IdentityModel.Tokens;

namespace Mep.Silo.Auth;

/// <summary>A local JWKS file: the public signing keys of an issuer that the silo cannot (or should not) fetch.</summary>
public static class JwksFile
{
    /// <summary>
    /// The file's RSA and EC signing keys. Refuses a file that others may write (whoever writes it can mint tokens),
    /// one holding private key material (a leaked key must not look like a working setup) and one with no usable key.
    /// </summary>
    /// <exception cref="InvalidDataException">With a message for an administrator.</exception>
    public static IReadOnlyList<SecurityKey> Load(string path)
    {
        string json;
        try
        {
            if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
            {
                throw new InvalidDataException($"'{path}' is writable by group or others: whoever can write it can sign tokens");
            }

            json = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"'{path}' cannot be read: {e.Message}", e);
        }

        JsonWebKeySet set;
        try
        {
            set = new JsonWebKeySet(json);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"'{path}' is not a JWKS document (a JSON object with a \"keys\" list)", e);
        }

        var usable = new JsonWebKeySet();
        foreach (var key in set.Keys)
        {
            if (key.HasPrivateKey || !string.IsNullOrEmpty(key.K))
            {
                throw new InvalidDataException($"'{path}': key '{key.Kid}' holds private or symmetric key material; a JWKS file publishes public keys only");
            }

            // Encryption keys and other key types are not for us; skip them rather than fail a shared file.
            if (key.Kty is JsonWebAlgorithmsKeyTypes.RSA or JsonWebAlgorithmsKeyTypes.EllipticCurve && key.Use is null or "sig")
            {
                usable.Keys.Add(key);
            }
        }

        var keys = usable.GetSigningKeys();
        return keys.Count > 0 ? [.. keys] : throw new InvalidDataException($"'{path}' holds no RSA or EC signing key");
    }
}
