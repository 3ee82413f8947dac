using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.Auth;

/// <summary>
/// One authentication host trusting five issuers, each the way a site would configure it:
/// 0 <see cref="Dev"/>: <c>mep</c>, JWKS file, identity set in <c>identity_set</c> (what run.sh configures);
/// 1 <see cref="Campus"/>: a campus IdP by JWKS file, two audiences, no identity-set claim;
/// 2 <see cref="Oidc"/>: keys by OIDC discovery from a second real Kestrel app;
/// 3 <see cref="Rotating"/>: a JWKS file the rotation test rewrites;
/// 4 a discovery document that names another issuer than the configured one.
/// </summary>
public sealed class AuthFixture : IAsyncLifetime
{
    public const string CampusIssuer = "https://idp.campus.example/realms/hpc";

    private readonly string dir = Directory.CreateTempSubdirectory("mep-auth-test-").FullName;
    private OidcTestServer oidc = null!;

    public TestTokenIssuer Dev { get; } = new();

    public TestTokenIssuer Campus { get; } = new(CampusIssuer, "mep-campus", identitySetClaim: null);

    public TestTokenIssuer Rotating { get; } = new("rotating", "mep");

    public TestTokenIssuer Oidc { get; private set; } = null!;

    /// <summary>Tokens for the issuer whose discovery document names someone else.</summary>
    public TestTokenIssuer Liar { get; private set; } = null!;

    internal AuthHost Host { get; private set; } = null!;

    internal OidcTestServer OidcServer => oidc;

    public string RotatingJwksFile => Path.Combine(dir, "rotating.jwks.json");

    public async Task InitializeAsync()
    {
        oidc = await OidcTestServer.StartAsync();
        Oidc = new TestTokenIssuer(oidc.Issuer, "mep", identitySetClaim: null);
        Liar = new TestTokenIssuer(oidc.LiarAuthority, "mep", identitySetClaim: null);
        oidc.Jwks = TestTokenIssuer.JwksOf(Oidc, Liar);

        var devJwks = Path.Combine(dir, "dev.jwks.json");
        var campusJwks = Path.Combine(dir, "campus.jwks.json");
        Dev.WriteJwks(devJwks);
        Campus.WriteJwks(campusJwks);
        Rotating.WriteJwks(RotatingJwksFile);

        var settings = new Dictionary<string, string?>(Dev.Configuration(devJwks, 0));
        foreach (var (key, value) in Campus.Configuration(campusJwks, 1))
        {
            settings[key] = value;
        }

        settings["Mep:Auth:Issuers:1:Audiences:1"] = "mep";
        foreach (var (key, value) in Rotating.Configuration(RotatingJwksFile, 3))
        {
            settings[key] = value;
        }

        settings["Mep:Auth:Issuers:2:Issuer"] = Oidc.Issuer;
        settings["Mep:Auth:Issuers:2:Authority"] = oidc.Issuer;
        settings["Mep:Auth:Issuers:2:Audiences:0"] = "mep";
        settings["Mep:Auth:Issuers:4:Issuer"] = Liar.Issuer;
        settings["Mep:Auth:Issuers:4:Authority"] = oidc.LiarAuthority;
        settings["Mep:Auth:Issuers:4:Audiences:0"] = "mep";
        Host = await AuthHost.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        await oidc.DisposeAsync();
        foreach (var issuer in new[] { Dev, Campus, Rotating, Oidc, Liar })
        {
            issuer.Dispose();
        }

        Directory.Delete(dir, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class AuthCollection : ICollectionFixture<AuthFixture>
{
    public const string Name = "token authentication";
}
