using System.Net;
using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.Auth;

/// <summary>Where the keys come from: OIDC discovery from a real second server, and a JWKS file that is rotated.</summary>
[Collection(AuthCollection.Name)]
public sealed class IssuerKeyTests(AuthFixture site)
{
    [Fact]
    public async Task An_oidc_issuer_is_trusted_with_the_keys_its_discovery_document_points_to()
    {
        var answer = await site.Host.WhoAmIAsync(site.Oidc.Issue("carol@oidc.example"));

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal("carol@oidc.example", answer.Caller?.Username);
        Assert.True(site.OidcServer.JwksRequests > 0, "the keys came from somewhere else than the discovery's jwks_uri");

        var forged = await site.Host.WhoAmIAsync(site.Oidc.Issue("carol@oidc.example", new TestToken { Forged = true }));
        Assert.Equal(HttpStatusCode.Unauthorized, forged.Status);
        Assert.Equal("bearer token rejected: signature invalid", forged.Detail);
    }

    [Fact]
    public async Task A_discovery_document_naming_another_issuer_yields_no_keys()
    {
        // The liar's key is in the JWKS its discovery points to: only the issuer check can refuse this token.
        var answer = await site.Host.WhoAmIAsync(site.Liar.Issue("mallory@oidc.example"));

        Assert.Equal(HttpStatusCode.Unauthorized, answer.Status);
        Assert.Equal("bearer token rejected: the issuer's signing keys are unavailable", answer.Detail);
    }

    [Fact]
    public async Task A_rotated_jwks_file_is_picked_up_and_the_old_key_stops_working()
    {
        using var next = new TestTokenIssuer(site.Rotating.Issuer, site.Rotating.Audience);
        var oldToken = site.Rotating.Issue("dave@example.org");
        var newToken = next.Issue("dave@example.org");
        Assert.Equal(HttpStatusCode.OK, (await site.Host.WhoAmIAsync(oldToken)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await site.Host.WhoAmIAsync(newToken)).Status);

        TestTokenIssuer.WriteJwks(site.RotatingJwksFile, next.Jwks());
        var picked = await Poll.TryUntilAsync(async () => (await site.Host.WhoAmIAsync(newToken)).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(20));

        Assert.True(picked, "the new key was never accepted");
        var old = await site.Host.WhoAmIAsync(oldToken);
        Assert.Equal(HttpStatusCode.Unauthorized, old.Status);
        Assert.Equal("bearer token rejected: signature invalid", old.Detail);

        // A broken rewrite (an administrator's typo) keeps the keys that worked.
        TestTokenIssuer.WriteJwks(site.RotatingJwksFile, "{\"keys\": [");
        Assert.Equal(HttpStatusCode.OK, (await site.Host.WhoAmIAsync(newToken)).Status);

        // Both keys during a rollover: both tokens work.
        TestTokenIssuer.WriteJwks(site.RotatingJwksFile, TestTokenIssuer.JwksOf(site.Rotating, next));
        Assert.True(await Poll.TryUntilAsync(async () => (await site.Host.WhoAmIAsync(oldToken)).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(20)));
        Assert.Equal(HttpStatusCode.OK, (await site.Host.WhoAmIAsync(newToken)).Status);
    }
}
