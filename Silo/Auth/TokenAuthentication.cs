using System.Security.Claims;
using Mep.Contracts.Model;
using Mep.Protocol.Auth;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.IdentityModel.Tokens;

namespace Mep.Silo.Auth;

/// <summary>
/// Bearer-token authentication: a JWT signed with the site's key carries the caller's federated identity.
/// This is the seam where OIDC discovery / JWKS and the endpoint policies plug in later.
/// </summary>
public static class TokenAuthentication
{
    public static IServiceCollection AddMepTokenAuthentication(this IServiceCollection services, TokenAuthOptions options)
    {
        var key = ReadKey(options.SigningKeyFile);
        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer(jwt =>
        {
            jwt.MapInboundClaims = false;
            jwt.TokenValidationParameters = new TokenValidationParameters
            {
                ValidIssuer = options.Issuer,
                ValidAudience = options.Audience,
                IssuerSigningKey = new SymmetricSecurityKey(key),
                ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
                RequireExpirationTime = true,
                ClockSkew = TimeSpan.FromSeconds(30),
                NameClaimType = MepClaims.Username,
            };
            jwt.Events = new JwtBearerEvents
            {
                // Answer 401 as problem+json like every other error, naming why the token was refused.
                OnChallenge = async context =>
                {
                    context.HandleResponse();
                    var detail = context.AuthenticateFailure is { } failure
                        ? $"bearer token rejected: {FirstLine(failure.Message)}"
                        : "a bearer token is required (Authorization: Bearer <token>)";
                    await Api.Problems.Write(context.Response, 401, "Unauthorized", detail);
                },
            };
        });
        services.AddAuthorization();
        return services;
    }

    /// <summary>The caller as the grains see it; null when the token lacks the claims MEP needs.</summary>
    public static CallerIdentity? ToCaller(ClaimsPrincipal user)
    {
        var id = user.FindFirstValue(MepClaims.IdentityId);
        var username = user.FindFirstValue(MepClaims.Username);
        if (string.IsNullOrWhiteSpace(id) || string.IsNullOrWhiteSpace(username))
        {
            return null;
        }

        var idp = user.FindFirstValue(MepClaims.IdentityProvider)
                  ?? (username.Contains('@') ? username[(username.LastIndexOf('@') + 1)..] : "");
        return new CallerIdentity(id.ToLowerInvariant(), username, idp, user.FindFirstValue(MepClaims.Name), user.FindFirstValue(MepClaims.Email));
    }

    private static byte[] ReadKey(string path)
    {
        byte[] key;
        try
        {
            key = Convert.FromBase64String(File.ReadAllText(path).Trim());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            throw new InvalidOperationException($"{TokenAuthOptions.Section}:SigningKeyFile {path}: {e.Message}", e);
        }

        return key.Length >= 32 ? key : throw new InvalidOperationException($"{path}: the signing key must hold at least 32 bytes");
    }

    private static string FirstLine(string s) => s.Split('\n', 2)[0].Trim();
}
