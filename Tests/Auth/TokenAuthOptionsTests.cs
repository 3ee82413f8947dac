using Mep.Silo.Auth;
using Mep.Tests.Infrastructure;
using Microsoft.Extensions.Options;
using Xunit;

namespace Mep.Tests.Auth;

/// <summary>The start-time check of <c>Mep:Auth</c>: each mistake is reported with the setting's full name.</summary>
public sealed class TokenAuthOptionsTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("mep-auth-options-").FullName;
    private readonly TestTokenIssuer issuer = new();

    public void Dispose()
    {
        issuer.Dispose();
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void A_jwks_issuer_with_an_audience_is_valid()
    {
        Assert.True(Validate(Issuer(jwks: Jwks("ok.json"))).Succeeded);
    }

    [Fact]
    public void No_issuers_is_an_error()
    {
        Assert.Equal(["Mep:Auth:Issuers: configure at least one token issuer (Issuer, Authority or JwksFile, Audiences)"], Errors(new TokenAuthOptions()));
    }

    [Fact]
    public void Each_issuer_needs_its_iss_exactly_one_key_source_and_audiences()
    {
        var errors = Errors(new TokenAuthOptions
        {
            Issuers =
            [
                new TokenIssuerOptions { Audiences = ["mep"], JwksFile = Jwks("a.json") },
                new TokenIssuerOptions { Issuer = "b", Audiences = ["mep"] },
                new TokenIssuerOptions { Issuer = "c", Audiences = ["mep"], JwksFile = Jwks("c.json"), Authority = "https://idp.example" },
                new TokenIssuerOptions { Issuer = "d", JwksFile = Jwks("d.json") },
                new TokenIssuerOptions { Issuer = "d", Audiences = [" "], JwksFile = Jwks("e.json") },
            ],
        });

        Assert.Equal(
        [
            "Mep:Auth:Issuers:0:Issuer is required: the exact 'iss' of the tokens",
            "Mep:Auth:Issuers:1: set exactly one of Authority (OIDC discovery) and JwksFile (a local JWKS)",
            "Mep:Auth:Issuers:2: set exactly one of Authority (OIDC discovery) and JwksFile (a local JWKS)",
            "Mep:Auth:Issuers:3:Audiences: list the accepted 'aud' values (none may be empty)",
            "Mep:Auth:Issuers:4:Audiences: list the accepted 'aud' values (none may be empty)",
            "Mep:Auth:Issuers:4:Issuer 'd' is configured already (Mep:Auth:Issuers:3)",
        ], errors);
    }

    [Theory]
    [InlineData("https://auth.globus.org", null)]
    [InlineData("http://127.0.0.1:8080/realms/x", null)]
    [InlineData("http://localhost:8080", null)]
    [InlineData("http://[::1]:8080", null)]
    [InlineData("http://idp.example.org", "Mep:Auth:Issuers:0:Authority 'http://idp.example.org' must use https (plain http only on a loopback address)")]
    [InlineData("http://10.0.0.1", "Mep:Auth:Issuers:0:Authority 'http://10.0.0.1' must use https (plain http only on a loopback address)")]
    [InlineData("idp.example.org", "Mep:Auth:Issuers:0:Authority 'idp.example.org' must be an http(s) URL without query, fragment or credentials")]
    [InlineData("https://idp.example.org/?tenant=1", "Mep:Auth:Issuers:0:Authority 'https://idp.example.org/?tenant=1' must be an http(s) URL without query, fragment or credentials")]
    public void Authority_must_be_https_except_on_loopback(string authority, string? error)
    {
        var errors = Errors(Issuer(authority: authority));

        Assert.Equal(error is null ? [] : [error], errors);
    }

    [Fact]
    public void A_jwks_file_must_be_absolute_readable_a_jwks_and_writable_by_its_owner_only()
    {
        var missing = Path.Combine(dir, "missing.json");
        var notJwks = Path.Combine(dir, "not.json");
        File.WriteAllText(notJwks, "[1, 2]");
        var writable = Jwks("writable.json");
        File.SetUnixFileMode(writable, File.GetUnixFileMode(writable) | UnixFileMode.GroupWrite);
        var secret = Path.Combine(dir, "secret.json");
        File.WriteAllText(secret, """{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}]}""");
        var empty = Path.Combine(dir, "empty.json");
        File.WriteAllText(empty, """{"keys":[]}""");

        Assert.Equal(["Mep:Auth:Issuers:0:JwksFile 'relative.json' must be an absolute path"], Errors(Issuer(jwks: "relative.json")));
        Assert.StartsWith($"Mep:Auth:Issuers:0:JwksFile '{missing}' cannot be read: ", Assert.Single(Errors(Issuer(jwks: missing))));
        Assert.Equal([$"Mep:Auth:Issuers:0:JwksFile '{notJwks}' is not a JWKS document (a JSON object with a \"keys\" list)"], Errors(Issuer(jwks: notJwks)));
        Assert.Equal([$"Mep:Auth:Issuers:0:JwksFile '{writable}' is writable by group or others: whoever can write it can sign tokens"], Errors(Issuer(jwks: writable)));
        Assert.Equal([$"Mep:Auth:Issuers:0:JwksFile '{secret}': key 's' holds private or symmetric key material; a JWKS file publishes public keys only"], Errors(Issuer(jwks: secret)));
        Assert.Equal([$"Mep:Auth:Issuers:0:JwksFile '{empty}' holds no RSA or EC signing key"], Errors(Issuer(jwks: empty)));
    }

    [Fact]
    public void Clock_skew_is_bounded()
    {
        var options = Issuer(jwks: Jwks("skew.json"));
        options.ClockSkew = TimeSpan.FromDays(60); // what "60" means to the configuration binder

        Assert.Equal(["Mep:Auth:ClockSkew 60.00:00:00 must lie between 00:00:00 and 00:10:00 (written hh:mm:ss)"], Errors(options));
    }

    [Fact]
    public void The_token_cache_settings_are_bounded()
    {
        var options = Issuer(jwks: Jwks("cache.json"));
        options.TokenCacheLifetime = TimeSpan.FromDays(1);
        options.TokenCacheCapacity = -1;

        Assert.Equal(
        [
            "Mep:Auth:TokenCacheLifetime 1.00:00:00 must lie between 00:00:00 and 01:00:00 (written hh:mm:ss)",
            "Mep:Auth:TokenCacheCapacity -1 must not be negative (0 turns the cache off)",
        ], Errors(options));
    }

    [Fact]
    public async Task A_host_with_a_bad_configuration_does_not_start_and_says_why()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Mep:Auth:Issuers:0:Issuer"] = "mep",
            ["Mep:Auth:Issuers:0:Authority"] = "http://idp.example.org",
            ["Mep:Auth:Issuers:0:Audiences:0"] = "mep",
        };

        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => AuthHost.StartAsync(settings));

        Assert.Contains("Mep:Auth:Issuers:0:Authority 'http://idp.example.org' must use https", e.Message);
    }

    private string Jwks(string name)
    {
        var path = Path.Combine(dir, name);
        issuer.WriteJwks(path);
        return path;
    }

    private static TokenAuthOptions Issuer(string? authority = null, string? jwks = null) => new()
    {
        Issuers = [new TokenIssuerOptions { Issuer = "mep", Audiences = ["mep"], Authority = authority, JwksFile = jwks }],
    };

    private static ValidateOptionsResult Validate(TokenAuthOptions options) => new TokenAuthOptionsValidator().Validate(null, options);

    private static IReadOnlyList<string> Errors(TokenAuthOptions options) => Validate(options).Failures?.ToList() ?? [];
}
