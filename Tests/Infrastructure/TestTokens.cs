using System.Security.Cryptography;
using System.Text.Json;
using Mep.Protocol.Auth;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Mep.Tests.Infrastructure;

/// <summary>
/// What a test token says besides the identity. Every member has the value a normal sign-in would give, so
/// <c>new TestToken { AuthTime = ... }</c> changes exactly one thing.
/// </summary>
public sealed record TestToken
{
    /// <summary>
    /// The <c>sub</c>. Default as <c>mep token issue</c>: the <c>id</c> (or <c>sub</c>) of the <see cref="IdentitySet"/>
    /// entry whose username is the identity, else <see cref="MepClaims.IdentityIdFor(string)"/> of the identity.
    /// </summary>
    public string? Subject { get; init; }

    /// <summary>The <c>idp</c> claim; default the identity's part after '@'. Empty: no idp claim.</summary>
    public string? IdentityProvider { get; init; }

    public string? Name { get; init; }

    public string? Email { get; init; }

    /// <summary>False: no <c>auth_time</c> claim at all.</summary>
    public bool IncludeAuthTime { get; init; } = true;

    /// <summary>The <c>auth_time</c>; default the issue time.</summary>
    public DateTimeOffset? AuthTime { get; init; }

    /// <summary>Linked identities, put into the issuer's identity-set claim as a JSON list of objects.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, object?>>? IdentitySet { get; init; }

    /// <summary>The <c>aud</c>; default the issuer's audience.</summary>
    public string? Audience { get; init; }

    /// <summary>The <c>iss</c>; default the issuer's.</summary>
    public string? Issuer { get; init; }

    /// <summary>The <c>iat</c> and <c>nbf</c>; default now.</summary>
    public DateTimeOffset? IssuedAt { get; init; }

    /// <summary>The <c>nbf</c> when it should differ from the issue time.</summary>
    public DateTimeOffset? NotBefore { get; init; }

    /// <summary><c>exp</c> = issue time + lifetime (negative: expired already); null: no <c>exp</c> claim.</summary>
    public TimeSpan? Lifetime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Signed by a key of its own under the issuer's <c>kid</c>: a forgery the silo must refuse.</summary>
    public bool Forged { get; init; }

    /// <summary>More claims, or null values to leave out a standard one (e.g. <c>["sub"] = null</c>).</summary>
    public IReadOnlyDictionary<string, object?>? Claims { get; init; }
}

/// <summary>
/// An identity provider for tests: an ES256 key of its own, its public key as a JWKS file for the silo, and tokens for
/// any identity. <see cref="SiloArguments"/> / <see cref="Configuration"/> give the silo's <c>Mep:Auth</c> settings.
/// </summary>
public sealed class TestTokenIssuer : IDisposable
{
    private readonly ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa forger = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public TestTokenIssuer(string issuer = MepClaims.Issuer, string audience = MepClaims.Audience, string? identitySetClaim = MepClaims.IdentitySet)
    {
        Issuer = issuer;
        Audience = audience;
        IdentitySetClaim = identitySetClaim;
        KeyId = Guid.NewGuid().ToString("N");
    }

    public string Issuer { get; }

    public string Audience { get; }

    /// <summary>Where <see cref="TestToken.IdentitySet"/> goes; null: the issuer sends none (and the silo reads none).</summary>
    public string? IdentitySetClaim { get; }

    public string KeyId { get; }

    /// <summary>The public key as a JWKS document.</summary>
    public string Jwks() => JwksOf((key, KeyId));

    /// <summary>A JWKS document of several issuers' keys (a rotation in progress, or a shared file).</summary>
    public static string JwksOf(params TestTokenIssuer[] issuers) => JwksOf(issuers.Select(i => (i.key, i.KeyId)).ToArray());

    /// <summary>Writes the JWKS, readable by everyone (the silo runs as its own account), writable by the owner only.</summary>
    public void WriteJwks(string path) => WriteJwks(path, Jwks());

    public static void WriteJwks(string path, string jwks)
    {
        // Through a temporary file and a rename, as an administrator rotating keys should: readers never see half a file.
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, jwks);
        File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The silo's settings for this issuer as <c>Mep:Auth:Issuers:{index}:…</c> keys (for an in-memory configuration).</summary>
    public IReadOnlyDictionary<string, string?> Configuration(string jwksFile, int index = 0)
    {
        var prefix = $"Mep:Auth:Issuers:{index}";
        var settings = new Dictionary<string, string?>
        {
            [$"{prefix}:Issuer"] = Issuer,
            [$"{prefix}:JwksFile"] = jwksFile,
            [$"{prefix}:Audiences:0"] = Audience,
        };
        if (IdentitySetClaim is not null)
        {
            settings[$"{prefix}:IdentitySetClaim"] = IdentitySetClaim;
        }

        return settings;
    }

    /// <summary>The same settings as silo command-line arguments (<c>--Mep:Auth:Issuers:0:Issuer=…</c>).</summary>
    public IEnumerable<string> SiloArguments(string jwksFile, int index = 0) =>
        Configuration(jwksFile, index).Select(s => $"--{s.Key}={s.Value}");

    /// <summary>A signed token for <paramref name="identity"/> (a username such as <c>alice@example.org</c>).</summary>
    public string Issue(string identity, TestToken? token = null)
    {
        token ??= new TestToken();
        var issuedAt = token.IssuedAt ?? DateTimeOffset.UtcNow;
        var at = identity.LastIndexOf('@');
        var claims = new Dictionary<string, object?>
        {
            [MepClaims.IdentityId] = token.Subject ?? OwnId(identity, token.IdentitySet) ?? MepClaims.IdentityIdFor(identity).ToString(),
            [MepClaims.Username] = identity,
            [MepClaims.IdentityProvider] = token.IdentityProvider ?? (at >= 0 ? identity[(at + 1)..].ToLowerInvariant() : null),
            [MepClaims.Name] = token.Name,
            [MepClaims.Email] = token.Email,
            [MepClaims.AuthTime] = token.IncludeAuthTime ? (token.AuthTime ?? issuedAt).ToUnixTimeSeconds() : null,
        };
        if (token.IdentitySet is { } set)
        {
            claims[IdentitySetClaim ?? throw new InvalidOperationException("this issuer sends no identity set")] = JsonSerializer.SerializeToElement(set);
        }

        foreach (var (name, value) in token.Claims ?? new Dictionary<string, object?>())
        {
            claims[name] = value;
        }

        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = token.Issuer ?? Issuer,
            Audience = token.Audience ?? Audience,
            IssuedAt = issuedAt.UtcDateTime,
            NotBefore = (token.NotBefore ?? issuedAt).UtcDateTime,
            Expires = token.Lifetime is { } lifetime ? (issuedAt + lifetime).UtcDateTime : null,
            Claims = claims.Where(c => c.Value is not null and not "").ToDictionary(c => c.Key, c => c.Value!),
            SigningCredentials = new SigningCredentials(
                new ECDsaSecurityKey(token.Forged ? forger : key)
                {
                    KeyId = KeyId,
                    // No shared provider cache: the forger signs under the same kid, and keys are disposed with the issuer.
                    CryptoProviderFactory = new CryptoProviderFactory { CacheSignatureProviders = false },
                },
                SecurityAlgorithms.EcdsaSha256),
        };
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(descriptor);
    }

    public void Dispose()
    {
        key.Dispose();
        forger.Dispose();
    }

    private static string? OwnId(string identity, IReadOnlyList<IReadOnlyDictionary<string, object?>>? set) =>
        set?.FirstOrDefault(e => e.TryGetValue("username", out var u) && string.Equals(u as string, identity, StringComparison.OrdinalIgnoreCase)) is { } own
            ? (own.GetValueOrDefault("id") ?? own.GetValueOrDefault("sub")) as string
            : null;

    private static string JwksOf(params (ECDsa Key, string KeyId)[] keys) => JsonSerializer.Serialize(new
    {
        keys = keys.Select(k =>
        {
            var p = k.Key.ExportParameters(false);
            return new Dictionary<string, string>
            {
                ["kty"] = "EC",
                ["crv"] = "P-256",
                ["use"] = "sig",
                ["kid"] = k.KeyId,
                ["x"] = Base64UrlEncoder.Encode(p.Q.X!),
                ["y"] = Base64UrlEncoder.Encode(p.Q.Y!),
            };
        }),
    });
}
