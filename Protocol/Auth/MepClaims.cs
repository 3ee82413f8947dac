using System.Security.Cryptography;
using System.Text;

namespace Mep.Protocol.Auth;

/// <summary>
/// What a MEP bearer token carries (JWT, HS256 in this first cut; the silo's validation is the seam where OIDC/JWKS goes).
/// The key file holds the base64 of at least 32 random bytes.
/// </summary>
public static class MepClaims
{
    public const string Issuer = "mep";
    public const string Audience = "mep";

    /// <summary>JWT <c>sub</c>: the identity id, a UUID, stable for one federated identity.</summary>
    public const string IdentityId = "sub";

    /// <summary>The federated username, e.g. <c>alice@example.org</c>.</summary>
    public const string Username = "preferred_username";

    public const string IdentityProvider = "idp";
    public const string Name = "name";
    public const string Email = "email";

    /// <summary>
    /// A stable identity id for a username when no identity provider assigns one (dev tokens):
    /// a version-8 UUID from SHA-256 of the lower-cased username, so the same name always gets the same id.
    /// </summary>
    public static Guid IdentityIdFor(string username)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes("mep-identity\n" + username.ToLowerInvariant()));
        return Uuid.FromHash(hash);
    }
}
