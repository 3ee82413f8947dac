using System.ComponentModel.DataAnnotations;

namespace Mep.Silo.Auth;

/// <summary>How the API validates bearer tokens (section <c>Mep:Auth</c>).</summary>
public sealed class TokenAuthOptions
{
    public const string Section = "Mep:Auth";

    /// <summary>File holding the base64 HS256 key that signs tokens (created by run.sh).</summary>
    [Required]
    public string SigningKeyFile { get; set; } = "";

    public string Issuer { get; set; } = Protocol.Auth.MepClaims.Issuer;

    public string Audience { get; set; } = Protocol.Auth.MepClaims.Audience;
}
