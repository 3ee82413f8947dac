using System.Security.Cryptography;
using System.Text;

namespace Mep.Protocol.Auth;

/// <summary>
/// The claims MEP reads from a bearer token (a JWT signed with an asymmetric key of a configured issuer), and the
/// issuer and audience of the site's own development tokens (<c>mep token issue</c>).
/// </summary>
public static class MepClaims
{
    /// <summary>Issuer of development tokens; a site configures it like any other issuer (with a JWKS file).</summary>
    public const string Issuer = "mep";

    public const string Audience = "mep";

    /// <summary>JWT <c>sub</c>: the issuer's id of the identity (a UUID for Globus Auth and for dev tokens).</summary>
    public const string IdentityId = "sub";

    /// <summary>The federated username, e.g. <c>alice@example.org</c>.</summary>
    public const string Username = "preferred_username";

    public const string IdentityProvider = "idp";
    public const string Name = "name";
    public const string Email = "email";

    /// <summary>When the holder last signed in at the identity provider (NumericDate): what session policies check.</summary>
    public const string AuthTime = "auth_time";

    /// <summary>Default name of the claim holding the linked identities (Globus Auth's <c>identity_set</c> shape).</summary>
    public const string IdentitySet = "identity_set";

    /// <summary>
    /// A stable identity id for a username when no identity provider assigns one (dev tokens):
    /// a version-8 UUID from SHA-256 of the lower-cased username, so the same name always gets the same id.
    /// </summary>
    public static Guid IdentityIdFor(string username)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes("mep-identity\n" + username.ToLowerInvariant()));
        return Uuid.FromHash(hash);
    }

    /// <summary>
    /// The identity id for a token whose <c>sub</c> is not a UUID: a version-8 UUID from SHA-256 of issuer and subject
    /// (both exact: <c>sub</c> is case-sensitive), so equal subjects of two issuers never share an id.
    /// </summary>
    public static Guid IdentityIdFor(string issuer, string subject)
    {
        // Length-prefixed so that no (issuer, subject) pair can be spelt as another one.
        var text = $"mep-issuer-subject\n{issuer.Length}:{issuer}\n{subject.Length}:{subject}";
        return Uuid.FromHash(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }
}
