using System.Text;
using Microsoft.IdentityModel.Tokens;
using Microsoft.Net.Http.Headers;

namespace Mep.Silo.Auth;

/// <summary>
/// The 401 answer (RFC 6750 section 3): <c>WWW-Authenticate: Bearer realm="mep"</c> without a token; with a refused
/// one also <c>error="invalid_token"</c> and a short, non-secret reason, which the problem+json body repeats.
/// </summary>
public static class BearerChallenge
{
    public const string Realm = "mep";

    public const string SignatureInvalid = "signature invalid";
    public const string Expired = "token expired";
    public const string NotYetValid = "token not yet valid";
    public const string WrongAudience = "wrong audience";
    public const string UnknownIssuer = "unknown issuer";
    public const string UnsupportedAlgorithm = "unsupported algorithm";
    public const string NoExpiry = "token has no expiry";
    public const string Malformed = "malformed token";

    public static async Task WriteAsync(HttpResponse response, string? reason)
    {
        var header = $"Bearer realm=\"{Realm}\"";
        if (reason is not null)
        {
            header += $", error=\"invalid_token\", error_description=\"{HeaderSafe(reason)}\"";
        }

        response.Headers.Append(HeaderNames.WWWAuthenticate, header);
        var detail = reason is null ? "a bearer token is required (Authorization: Bearer <token>)" : $"bearer token rejected: {reason}";
        await Api.Problems.Write(response, StatusCodes.Status401Unauthorized, "Unauthorized", detail);
    }

    /// <summary>The short reason for a validation failure; never the exception's own message (it may quote the token).</summary>
    public static string ReasonFor(Exception failure) => failure switch
    {
        TokenRejectedException e => e.Message,
        AggregateException { InnerExceptions: [var first, ..] } => ReasonFor(first),
        // Order matters where the types derive from one another.
        SecurityTokenInvalidAudienceException => WrongAudience,
        SecurityTokenInvalidIssuerException => UnknownIssuer,
        SecurityTokenNoExpirationException => NoExpiry,
        SecurityTokenNotYetValidException => NotYetValid,
        SecurityTokenExpiredException => Expired,
        SecurityTokenInvalidLifetimeException => "token lifetime invalid",
        SecurityTokenInvalidAlgorithmException => UnsupportedAlgorithm,
        SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException => SignatureInvalid,
        SecurityTokenMalformedException => Malformed,
        _ => "invalid token",
    };

    // RFC 6750 allows %x20-21 / %x23-5B / %x5D-7E in error_description: no quote, no backslash, ASCII only.
    private static string HeaderSafe(string reason)
    {
        var text = new StringBuilder(reason.Length);
        foreach (var c in reason)
        {
            text.Append(c is >= ' ' and <= '~' and not '"' and not '\\' ? c : '?');
        }

        return text.ToString();
    }
}
