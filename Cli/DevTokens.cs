using Mep.Protocol.Auth;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Mep.Cli;

/// <summary>What a token asserts about its holder, with the claim names fixed by <see cref="MepClaims"/>.</summary>
internal sealed record TokenSubject(
    string Identity,
    Guid IdentityId,
    string IdentityProvider,
    string? Name,
    string? Email);

/// <summary>HS256 bearer tokens signed with the shared key file: the first-cut stand-in for an identity provider.</summary>
internal static class DevTokens
{
    public static string Issue(TokenSubject subject, byte[] key, DateTimeOffset now, TimeSpan lifetime)
    {
        var claims = new Dictionary<string, object>
        {
            [MepClaims.IdentityId] = subject.IdentityId.ToString(),
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

        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = MepClaims.Issuer,
            Audience = MepClaims.Audience,
            Claims = claims,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = (now + lifetime).UtcDateTime,
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(key), SecurityAlgorithms.HmacSha256),
        };
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(descriptor);
    }
}
