using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Mep.Silo.Auth;

/// <summary>
/// A first look at the bearer token, before any signature check: is there one, can it be parsed, is its algorithm
/// one we accept, and which configured issuer does it claim to come from. The answer only chooses which scheme
/// validates the token (nothing here is trusted); the chosen scheme checks everything, the issuer included.
/// </summary>
internal static class BearerTokenPrecheck
{
    /// <summary>Asymmetric signatures only: with HMAC the verifier could sign too, and <c>none</c> is no signature.</summary>
    public static readonly IReadOnlyList<string> Algorithms =
    [
        SecurityAlgorithms.RsaSha256, SecurityAlgorithms.RsaSha384, SecurityAlgorithms.RsaSha512,
        SecurityAlgorithms.RsaSsaPssSha256, SecurityAlgorithms.RsaSsaPssSha384, SecurityAlgorithms.RsaSsaPssSha512,
        SecurityAlgorithms.EcdsaSha256, SecurityAlgorithms.EcdsaSha384, SecurityAlgorithms.EcdsaSha512,
    ];

    /// <summary>What to do with the request: no token, refuse it with a reason, or validate it as issuer N's.</summary>
    public readonly record struct Verdict(bool HasToken, string? Reason, int IssuerIndex);

    public static Verdict Inspect(HttpContext context)
    {
        // The same extraction as the JWT bearer handler, so that both agree on whether a token was sent.
        var authorization = context.Request.Headers.Authorization.ToString();
        if (!authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return new Verdict(false, null, -1);
        }

        var token = authorization["Bearer ".Length..].Trim();
        if (token.Length == 0)
        {
            return new Verdict(false, null, -1);
        }

        JsonWebToken jwt;
        try
        {
            jwt = new JsonWebToken(token);
        }
        catch (Exception e) when (e is ArgumentException or SecurityTokenMalformedException)
        {
            return new Verdict(true, BearerChallenge.Malformed, -1);
        }

        if (jwt.IsEncrypted || !Algorithms.Contains(jwt.Alg, StringComparer.Ordinal))
        {
            return new Verdict(true, BearerChallenge.UnsupportedAlgorithm, -1);
        }

        string? issuer;
        try
        {
            issuer = jwt.Issuer;
        }
        catch (Exception e) when (e is ArgumentException or SecurityTokenException)
        {
            return new Verdict(true, BearerChallenge.Malformed, -1); // an iss that is not a string
        }

        var issuers = context.RequestServices.GetRequiredService<IOptions<TokenAuthOptions>>().Value.Issuers;
        var index = issuers.FindIndex(i => string.Equals(i.Issuer, issuer, StringComparison.Ordinal));
        return index < 0 ? new Verdict(true, BearerChallenge.UnknownIssuer, -1) : new Verdict(true, null, index);
    }
}
