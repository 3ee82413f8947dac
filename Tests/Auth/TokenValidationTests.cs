using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Mep.Protocol.Auth;
using Mep.Silo.Api;
using Mep.Tests.Infrastructure;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Xunit;

namespace Mep.Tests.Auth;

/// <summary>Each way a bearer token can be wrong, against the real pipeline: 401, the reason in the challenge and the body.</summary>
[Collection(AuthCollection.Name)]
public sealed class TokenValidationTests(AuthFixture site)
{
    private const string Alice = "alice@example.org";

    [Fact]
    public async Task A_valid_token_is_accepted_and_names_its_caller()
    {
        var answer = await site.Host.WhoAmIAsync(site.Dev.Issue(Alice));

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Null(answer.Challenge);
        Assert.Equal(Alice, answer.Caller?.Username);
    }

    [Fact]
    public async Task Without_a_token_the_challenge_has_the_realm_and_no_error()
    {
        var answer = await site.Host.WhoAmIAsync(null);

        Assert.Equal(HttpStatusCode.Unauthorized, answer.Status);
        Assert.Equal("Bearer realm=\"mep\"", answer.Challenge);
        Assert.Equal(Problems.ContentType, answer.ContentType);
        Assert.Equal("a bearer token is required (Authorization: Bearer <token>)", answer.Detail);
        Assert.Null(answer.Caller);
    }

    [Fact]
    public async Task Another_authorization_scheme_counts_as_no_token()
    {
        var answer = await site.Host.SendAsync("whoami", new AuthenticationHeaderValue("Basic", "YWxpY2U6c2VjcmV0"));

        Assert.Equal(HttpStatusCode.Unauthorized, answer.Status);
        Assert.Equal("Bearer realm=\"mep\"", answer.Challenge);
    }

    [Fact]
    public async Task A_forged_signature_is_refused()
        => await AssertRefused(site.Dev.Issue(Alice, new TestToken { Forged = true }), "signature invalid");

    [Fact]
    public async Task A_token_of_one_issuer_signed_with_another_issuers_key_is_refused()
        => await AssertRefused(site.Campus.Issue(Alice, new TestToken { Issuer = MepClaims.Issuer, Audience = MepClaims.Audience }), "signature invalid");

    [Fact]
    public async Task An_expired_token_is_refused()
        => await AssertRefused(site.Dev.Issue(Alice, new TestToken { IssuedAt = DateTimeOffset.UtcNow.AddHours(-2), Lifetime = TimeSpan.FromHours(1) }), "token expired");

    [Fact]
    public async Task Expiry_allows_the_configured_clock_skew_of_60_seconds_and_no_more()
    {
        var now = DateTimeOffset.UtcNow;
        var justExpired = site.Dev.Issue(Alice, new TestToken { IssuedAt = now.AddMinutes(-10), Lifetime = TimeSpan.FromMinutes(10) - TimeSpan.FromSeconds(20) });
        var longExpired = site.Dev.Issue(Alice, new TestToken { IssuedAt = now.AddMinutes(-10), Lifetime = TimeSpan.FromMinutes(10) - TimeSpan.FromSeconds(120) });

        Assert.Equal(HttpStatusCode.OK, (await site.Host.WhoAmIAsync(justExpired)).Status);
        await AssertRefused(longExpired, "token expired");
    }

    [Fact]
    public async Task A_token_accepted_before_is_refused_once_it_expires()
    {
        // Valid for about 5 s more (expired 55 s ago, 60 s of skew): accepted twice (the second time from the silo's
        // cache of validated tokens), then refused as expired once its time is up, cache or not.
        var now = DateTimeOffset.UtcNow;
        var ending = site.Dev.Issue(Alice, new TestToken { IssuedAt = now.AddMinutes(-10), Lifetime = TimeSpan.FromMinutes(10) - TimeSpan.FromSeconds(55) });
        Assert.Equal(HttpStatusCode.OK, (await site.Host.WhoAmIAsync(ending)).Status);
        Assert.Equal(Alice, (await site.Host.WhoAmIAsync(ending)).Caller?.Username);

        var refused = await Poll.TryUntilAsync(async () => (await site.Host.WhoAmIAsync(ending)).Status == HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(30));

        Assert.True(refused, "an expired token was still accepted");
        await AssertRefused(ending, "token expired");
    }

    [Fact]
    public async Task A_token_not_yet_valid_is_refused()
        => await AssertRefused(site.Dev.Issue(Alice, new TestToken { NotBefore = DateTimeOffset.UtcNow.AddMinutes(10) }), "token not yet valid");

    [Fact]
    public async Task A_token_without_expiry_is_refused()
        => await AssertRefused(site.Dev.Issue(Alice, new TestToken { Lifetime = null }), "token has no expiry");

    [Fact]
    public async Task A_token_for_another_audience_is_refused()
        => await AssertRefused(site.Dev.Issue(Alice, new TestToken { Audience = "someone-else" }), "wrong audience");

    [Fact]
    public async Task An_issuer_accepts_each_of_its_audiences_and_only_those()
    {
        Assert.Equal(HttpStatusCode.OK, (await site.Host.WhoAmIAsync(site.Campus.Issue(Alice))).Status);
        Assert.Equal(HttpStatusCode.OK, (await site.Host.WhoAmIAsync(site.Campus.Issue(Alice, new TestToken { Audience = "mep" }))).Status);
        await AssertRefused(site.Dev.Issue(Alice, new TestToken { Audience = "mep-campus" }), "wrong audience"); // the campus audience is not the dev issuer's
    }

    [Fact]
    public async Task A_token_from_an_unknown_issuer_is_refused()
        => await AssertRefused(site.Dev.Issue(Alice, new TestToken { Issuer = "https://evil.example" }), "unknown issuer");

    [Fact]
    public async Task Issuers_are_compared_exactly()
        => await AssertRefused(site.Campus.Issue(Alice, new TestToken { Issuer = AuthFixture.CampusIssuer + "/" }), "unknown issuer");

    [Fact]
    public async Task An_hs256_token_is_refused_even_with_valid_claims()
    {
        var token = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = MepClaims.Issuer,
            Audience = MepClaims.Audience,
            Expires = DateTime.UtcNow.AddHours(1),
            Claims = new Dictionary<string, object> { ["sub"] = Guid.NewGuid().ToString(), ["preferred_username"] = Alice },
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(new byte[32]) { KeyId = site.Dev.KeyId }, SecurityAlgorithms.HmacSha256),
        });

        await AssertRefused(token, "unsupported algorithm");
    }

    [Fact]
    public async Task An_unsigned_token_with_alg_none_is_refused()
    {
        var exp = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds();
        var header = Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes("""{"alg":"none","typ":"JWT"}"""));
        var payload = Base64UrlEncoder.Encode(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["iss"] = MepClaims.Issuer, ["aud"] = MepClaims.Audience, ["exp"] = exp, ["sub"] = Guid.NewGuid().ToString(), ["preferred_username"] = Alice,
        }));

        await AssertRefused($"{header}.{payload}.", "unsupported algorithm");
    }

    [Fact]
    public async Task A_token_that_is_no_jwt_is_refused_as_malformed()
        => await AssertRefused("not-a-jwt", "malformed token");

    [Fact]
    public async Task A_token_without_sub_or_preferred_username_is_refused_naming_the_claim()
    {
        await AssertRefused(site.Dev.Issue(Alice, new TestToken { Claims = new Dictionary<string, object?> { ["sub"] = null } }), "token lacks the sub claim");
        await AssertRefused(site.Dev.Issue(Alice, new TestToken { Claims = new Dictionary<string, object?> { ["preferred_username"] = null } }), "token lacks the preferred_username claim");
    }

    [Fact]
    public async Task A_refused_token_does_not_close_anonymous_paths()
    {
        var answer = await site.Host.SendAsync("open", new AuthenticationHeaderValue("Bearer", site.Dev.Issue(Alice, new TestToken { Forged = true })));

        Assert.Equal(HttpStatusCode.OK, answer.Status);
    }

    private async Task AssertRefused(string token, string reason)
    {
        var answer = await site.Host.WhoAmIAsync(token);

        Assert.Equal(HttpStatusCode.Unauthorized, answer.Status);
        Assert.Equal($"Bearer realm=\"mep\", error=\"invalid_token\", error_description=\"{reason}\"", answer.Challenge);
        Assert.Equal(Problems.ContentType, answer.ContentType);
        Assert.Equal($"bearer token rejected: {reason}", answer.Detail);
        Assert.Null(answer.Caller);
    }
}
