using System.Text.Json;
using Mep.Protocol.Auth;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Mep.Cli;

/// <summary>What a token asserts about its holder, with the claim names fixed by <see cref="MepClaims"/>.</summary>
internal sealed record TokenSubject(
    string Identity,
    string IdentityId,
    string IdentityProvider,
    string? Name,
    string? Email);

/// <summary>Where and for how long a token is valid, and what it says about the session.</summary>
internal sealed record TokenTerms(
    string Issuer,
    string Audience,
    DateTimeOffset IssuedAt,
    TimeSpan Lifetime,
    DateTimeOffset? AuthTime,
    string IdentitySetClaim,
    JsonElement? IdentitySet);

/// <summary>ES256 bearer tokens signed with the local development key: the stand-in for an identity provider.</summary>
internal static class DevTokens
{
    public static string Issue(TokenSubject subject, TokenTerms terms, DevSigningKey key)
    {
        var claims = new Dictionary<string, object>
        {
            [MepClaims.IdentityId] = subject.IdentityId,
            [MepClaims.Username] = subject.Identity,
            [MepClaims.IdentityProvider] = subject.IdentityProvider,
        };
        if (subject.Name is not null)
        {
            claims[MepClaims.Name] = subject.Name;
        }

        if (subject.Email is not null)
        {
            claims[MepClaims.Email] = subject.Email;
        }

        if (terms.AuthTime is { } authTime)
        {
            claims[MepClaims.AuthTime] = authTime.ToUnixTimeSeconds();
        }

        if (terms.IdentitySet is { } set)
        {
            claims[terms.IdentitySetClaim] = set;
        }

        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = terms.Issuer,
            Audience = terms.Audience,
            Claims = claims,
            IssuedAt = terms.IssuedAt.UtcDateTime,
            NotBefore = terms.IssuedAt.UtcDateTime,
            Expires = (terms.IssuedAt + terms.Lifetime).UtcDateTime,
            // The key id goes into the header, so the silo picks the matching key from the JWKS.
            SigningCredentials = new SigningCredentials(
                new ECDsaSecurityKey(key.Key)
                {
                    KeyId = key.KeyId,
                    // The caller disposes the key: IdentityModel's provider cache (keyed by kid) must not keep it.
                    CryptoProviderFactory = new CryptoProviderFactory { CacheSignatureProviders = false },
                },
                SecurityAlgorithms.EcdsaSha256),
        };
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(descriptor);
    }
}
