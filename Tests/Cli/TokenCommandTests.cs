using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Mep.Protocol.Auth;
using Mep.Silo.Auth;
using Mep.Tests.Auth;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Xunit;

namespace Mep.Tests.Cli;

public sealed class TokenCommandTests : IDisposable
{
    private const string Other = "4f3e2d1c-0000-4000-8000-00000000000a";
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Public = Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private readonly string dir = Directory.CreateTempSubdirectory("mep-token-test-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public async Task Key_create_writes_a_p256_key_0600_and_its_public_jwks_0644_and_never_overwrites()
    {
        var path = Path.Combine(dir, "sub", "token-signing.key");

        var run = await CliRunner.RunAsync("token", "key", "create", path);

        Assert.Equal(0, run.ExitCode);
        Assert.Equal(Private, File.GetUnixFileMode(path));
        Assert.Equal(Public, File.GetUnixFileMode(path + ".jwks.json"));
        using var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(path));
        Assert.Equal(ECCurve.NamedCurves.nistP256.Oid.Value, key.ExportParameters(false).Curve.Oid.Value);

        // The JWKS holds the public half only, with the RFC 7638 thumbprint as kid (computed here by IdentityModel).
        var jwk = Assert.Single(new JsonWebKeySet(File.ReadAllText(path + ".jwks.json")).Keys);
        Assert.False(jwk.HasPrivateKey);
        Assert.Equal(("EC", "P-256", "sig", "ES256"), (jwk.Kty, jwk.Crv, jwk.Use, jwk.Alg));
        Assert.Equal(Base64UrlEncoder.Encode(key.ExportParameters(false).Q.X!), jwk.X);
        Assert.Equal(Base64UrlEncoder.Encode(jwk.ComputeJwkThumbprint()), jwk.Kid);
        Assert.Equal($"key {path}, public JWKS {path}.jwks.json (kid {jwk.Kid})", Assert.Single(run.StdoutLines));
        Assert.Single(JwksFile.Load(path + ".jwks.json")); // and the silo takes it

        var pem = File.ReadAllText(path);
        var again = await CliRunner.RunAsync("token", "key", "create", path);
        Assert.Equal(2, again.ExitCode);
        Assert.Contains("already exists", Assert.Single(again.StderrLines));
        Assert.Equal(pem, File.ReadAllText(path));

        await CliRunner.RunAsync("token", "key", "create", path + ".2");
        Assert.NotEqual(pem, File.ReadAllText(path + ".2"));
    }

    [Fact]
    public async Task Key_create_puts_the_jwks_where_asked_and_refuses_an_existing_one_without_writing_a_key()
    {
        var path = Path.Combine(dir, "k");
        var jwks = Path.Combine(dir, "public", "dev.jwks");

        Assert.Equal(0, (await CliRunner.RunAsync("token", "key", "create", path, "--jwks", jwks)).ExitCode);
        Assert.Single(JwksFile.Load(jwks));
        Assert.False(File.Exists(path + ".jwks.json"));

        var other = Path.Combine(dir, "k2");
        var run = await CliRunner.RunAsync("token", "key", "create", other, "--jwks", jwks);
        Assert.Equal(2, run.ExitCode);
        Assert.Equal($"mep: JWKS file '{jwks}' already exists; remove it first to replace the key", Assert.Single(run.StderrLines));
        Assert.False(File.Exists(other));
    }

    [Fact]
    public async Task Issued_token_is_es256_with_the_kid_carries_the_claims_and_verifies_only_with_its_jwks()
    {
        var keyFile = await NewKeyAsync("k1");
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);

        var run = await CliRunner.RunAsync(
            "token", "issue", "--identity", "Alice@Example.org", "--key-file", keyFile,
            "--lifetime", "2h", "--name", "Alice Liddell", "--email", "alice@example.org");

        Assert.Equal(0, run.ExitCode);
        Assert.Equal("", run.Stderr);
        var token = Assert.Single(run.StdoutLines);

        var valid = await ValidateAsync(token, keyFile);
        Assert.True(valid.IsValid, valid.Exception?.Message);
        var jwt = (JsonWebToken)valid.SecurityToken;
        Assert.Equal("ES256", jwt.Alg);
        Assert.Equal(new JsonWebKeySet(File.ReadAllText(keyFile + ".jwks.json")).Keys[0].Kid, jwt.Kid);
        Assert.Equal((MepClaims.Issuer, MepClaims.Audience), (jwt.Issuer, Assert.Single(jwt.Audiences)));
        Assert.Equal(MepClaims.IdentityIdFor("alice@example.org").ToString(), jwt.Subject);
        Assert.Equal("Alice@Example.org", jwt.GetClaim(MepClaims.Username).Value);
        Assert.Equal("example.org", jwt.GetClaim(MepClaims.IdentityProvider).Value); // domains are case-insensitive
        Assert.Equal("Alice Liddell", jwt.GetClaim(MepClaims.Name).Value);
        Assert.Equal("alice@example.org", jwt.GetClaim(MepClaims.Email).Value);
        Assert.Equal(TimeSpan.FromHours(2), jwt.ValidTo - jwt.IssuedAt);
        Assert.Equal(jwt.IssuedAt, jwt.ValidFrom);
        Assert.InRange(jwt.IssuedAt, before.UtcDateTime, DateTime.UtcNow.AddSeconds(1));
        Assert.Equal(new DateTimeOffset(jwt.IssuedAt).ToUnixTimeSeconds(), jwt.GetPayloadValue<long>(MepClaims.AuthTime)); // signed in now
        Assert.False(jwt.TryGetClaim(MepClaims.IdentitySet, out _));

        var otherKey = await NewKeyAsync("k2");
        var forged = await ValidateAsync(token, otherKey);
        Assert.False(forged.IsValid);
        Assert.IsAssignableFrom<SecurityTokenSignatureKeyNotFoundException>(forged.Exception);
    }

    [Fact]
    public async Task The_silo_configured_with_the_jwks_accepts_the_token_and_reads_its_identity_set()
    {
        var keyFile = await NewKeyAsync("silo");
        var setFile = Path.Combine(dir, "set.json");
        const string linked = "0f0e0d0c-0b0a-4908-8706-050403020100";
        File.WriteAllText(setFile, $$"""
            [{"sub": "9d6a2b0c-1111-4222-8333-444455556666", "username": "alice@example.org", "organization": "Example"},
             {"id": "{{linked}}", "username": "alice@anl.gov", "status": "private"}]
            """);
        await using var host = await AuthHost.StartAsync(new Dictionary<string, string?>
        {
            ["Mep:Auth:Issuers:0:Issuer"] = "https://dev.example",
            ["Mep:Auth:Issuers:0:JwksFile"] = keyFile + ".jwks.json",
            ["Mep:Auth:Issuers:0:Audiences:0"] = "mep-dev",
            ["Mep:Auth:Issuers:0:IdentitySetClaim"] = MepClaims.IdentitySet,
        });

        var run = await CliRunner.RunAsync("token", "issue", "--identity", "alice@example.org", "--key-file", keyFile,
            "--issuer", "https://dev.example", "--audience", "mep-dev", "--identity-set", setFile, "--auth-time", "2025-06-01T08:00:00Z");
        Assert.True(run.ExitCode == 0, run.ToString());
        var answer = await host.WhoAmIAsync(Assert.Single(run.StdoutLines));

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        var caller = answer.Caller!;
        Assert.Equal("9d6a2b0c-1111-4222-8333-444455556666", caller.IdentityId); // the sub of the set's entry for --identity
        Assert.Equal(DateTimeOffset.Parse("2025-06-01T08:00:00Z", System.Globalization.CultureInfo.InvariantCulture), caller.AuthTime);
        Assert.Equal(
            [("9d6a2b0c-1111-4222-8333-444455556666", "alice@example.org", "used"), (linked, "alice@anl.gov", "private")],
            caller.LinkedIdentities.Select(i => (i.Id, i.Username, i.Status)!).ToList<(string, string, string?)>());

        var wrongAudience = await CliRunner.RunAsync("token", "issue", "--identity", "alice@example.org", "--key-file", keyFile, "--issuer", "https://dev.example");
        Assert.True(wrongAudience.ExitCode == 0, wrongAudience.ToString());
        Assert.Equal("bearer token rejected: wrong audience", (await host.WhoAmIAsync(wrongAudience.StdoutLines[0])).Detail);
    }

    [Fact]
    public async Task Auth_time_can_be_left_out_and_a_bad_one_is_a_usage_error()
    {
        var keyFile = await NewKeyAsync("k4");

        var none = await CliRunner.RunAsync("token", "issue", "--identity", "a@b.org", "--key-file", keyFile, "--auth-time", "none");
        var bad = await CliRunner.RunAsync("token", "issue", "--identity", "a@b.org", "--key-file", keyFile, "--auth-time", "yesterday");

        Assert.Equal(0, none.ExitCode);
        Assert.False(new JsonWebToken(none.StdoutLines[0]).TryGetClaim(MepClaims.AuthTime, out _));
        Assert.Equal(2, bad.ExitCode);
        Assert.Equal("mep: --auth-time 'yesterday' must be an ISO time (e.g. 2025-01-31T09:00:00Z), 'now' or 'none'", Assert.Single(bad.StderrLines));
    }

    [Fact]
    public async Task An_identity_set_must_contain_the_tokens_own_identity()
    {
        var keyFile = await NewKeyAsync("k5");
        var setFile = Path.Combine(dir, "other.json");
        File.WriteAllText(setFile, """[{"id": "x-1", "username": "bob@example.org"}]""");
        var notList = Path.Combine(dir, "object.json");
        File.WriteAllText(notList, """{"id": "x-1"}""");

        var byName = await CliRunner.RunAsync("token", "issue", "--identity", "alice@example.org", "--key-file", keyFile, "--identity-set", setFile);
        var byId = await CliRunner.RunAsync("token", "issue", "--identity", "alice@example.org", "--identity-id", Other, "--key-file", keyFile, "--identity-set", setFile);
        var shape = await CliRunner.RunAsync("token", "issue", "--identity", "alice@example.org", "--key-file", keyFile, "--identity-set", notList);

        Assert.Equal("mep: --identity-set has no entry with username 'alice@example.org' and an id: the token's own identity must be in the set", Assert.Single(byName.StderrLines));
        Assert.Equal($"mep: --identity-set has no entry with id '{Other}': the token's own identity must be in the set", Assert.Single(byId.StderrLines));
        Assert.Equal($"mep: --identity-set '{notList}' must hold a JSON list of identity objects", Assert.Single(shape.StderrLines));
        Assert.All(new[] { byName, byId, shape }, r => Assert.Equal(2, r.ExitCode));
    }

    [Fact]
    public async Task Identity_id_and_idp_can_be_given_and_the_key_file_comes_from_the_environment()
    {
        var keyFile = await NewKeyAsync("k3");
        var id = Guid.NewGuid();
        var env = new Dictionary<string, string> { ["MEP_TOKEN_KEY_FILE"] = keyFile };

        var run = await CliRunner.RunAsync(env, "token", "issue", "--identity", "bob", "--idp", "campus", "--identity-id", id.ToString().ToUpperInvariant());

        Assert.Equal(0, run.ExitCode);
        var valid = await ValidateAsync(Assert.Single(run.StdoutLines), keyFile);
        Assert.True(valid.IsValid, valid.Exception?.Message);
        var jwt = (JsonWebToken)valid.SecurityToken;
        Assert.Equal(id.ToString(), jwt.Subject);
        Assert.Equal("bob", jwt.GetClaim(MepClaims.Username).Value);
        Assert.Equal("campus", jwt.GetClaim(MepClaims.IdentityProvider).Value);
        Assert.False(jwt.TryGetClaim(MepClaims.Name, out _));
        Assert.Equal(TimeSpan.FromHours(12), jwt.ValidTo - jwt.IssuedAt);
    }

    [Fact]
    public async Task An_hs256_key_file_of_an_older_mep_is_refused_with_the_way_out()
    {
        var keyFile = Path.Combine(dir, "old.key");
        await File.WriteAllTextAsync(keyFile, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));

        var run = await CliRunner.RunAsync("token", "issue", "--identity", "a@b.org", "--key-file", keyFile);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal(
            $"mep: --key-file '{keyFile}' is not a PEM private key (an HS256 key of an older MEP?); create an ES256 key with 'mep token key create' and configure the silo with its JWKS",
            Assert.Single(run.StderrLines));
    }

    [Fact]
    public async Task A_key_on_another_curve_is_refused()
    {
        var keyFile = Path.Combine(dir, "p384.key");
        using (var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384))
        {
            await File.WriteAllTextAsync(keyFile, p384.ExportPkcs8PrivateKeyPem());
        }

        var run = await CliRunner.RunAsync("token", "issue", "--identity", "a@b.org", "--key-file", keyFile);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal($"mep: --key-file '{keyFile}' holds a key on another curve; ES256 needs P-256", Assert.Single(run.StderrLines));
    }

    private async Task<string> NewKeyAsync(string name)
    {
        var path = Path.Combine(dir, name);
        Assert.Equal(0, (await CliRunner.RunAsync("token", "key", "create", path)).ExitCode);
        return path;
    }

    private static Task<TokenValidationResult> ValidateAsync(string token, string keyFile) =>
        new JsonWebTokenHandler().ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = MepClaims.Issuer,
            ValidAudience = MepClaims.Audience,
            IssuerSigningKeys = new JsonWebKeySet(File.ReadAllText(keyFile + ".jwks.json")).GetSigningKeys(),
            ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
            ClockSkew = TimeSpan.Zero,
        });
}
