namespace Mep.Silo.Auth;

/// <summary>
/// How the API validates bearer tokens (section <c>Mep:Auth</c>): the issuers it trusts, each with its keys and
/// audiences. Checked at start by <see cref="TokenAuthOptionsValidator"/>.
/// </summary>
public sealed class TokenAuthOptions
{
    public const string Section = "Mep:Auth";

    public List<TokenIssuerOptions> Issuers { get; set; } = [];

    /// <summary>Tolerance for expiry and not-before, for clocks that disagree a little.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long a validated token is remembered at most (never past its expiry), so that requests with the same token
    /// skip the signature check; a change of the issuer's keys forgets it at once. Zero: every request is checked.
    /// </summary>
    public TimeSpan TokenCacheLifetime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Validated tokens remembered at most, per issuer.</summary>
    public int TokenCacheCapacity { get; set; } = 4096;
}

/// <summary>One trusted issuer (<c>Mep:Auth:Issuers:N</c>). Its keys come from exactly one of Authority or JwksFile.</summary>
public sealed class TokenIssuerOptions
{
    /// <summary>The exact <c>iss</c> of its tokens (no normalisation: a trailing slash matters).</summary>
    public string Issuer { get; set; } = "";

    /// <summary>OIDC discovery base: keys from <c>{Authority}/.well-known/openid-configuration</c> → <c>jwks_uri</c>.</summary>
    public string? Authority { get; set; }

    /// <summary>A local JWKS file (absolute path), for sites without network access to the issuer; re-read when it changes.</summary>
    public string? JwksFile { get; set; }

    /// <summary>Accepted <c>aud</c> values: a token must name at least one.</summary>
    public List<string> Audiences { get; set; } = [];

    /// <summary>Name of the claim holding the linked identities (a JSON list); unset: one identity from the standard claims.</summary>
    public string? IdentitySetClaim { get; set; }
}
