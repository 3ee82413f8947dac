using Mep.Protocol.Auth;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Xunit;

namespace Mep.Tests.Cli;

[System.Runtime.Versioning.SupportedOSPlatform("linux")] // Unix file modes
public sealed class TokenCommandTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("mep-token-test-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public async Task Key_create_writes_32_random_bytes_as_base64_with_mode_0600_and_never_overwrites()
    {
        var path = Path.Combine(dir, "sub", "token-signing.key");

        var run = await CliRunner.RunAsync("token", "key", "create", path);

        Assert.Equal(0, run.ExitCode);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        var key = Convert.FromBase64String(File.ReadAllText(path).Trim());
        Assert.Equal(32, key.Length);
        Assert.Contains(key, b => b != 0);

        var again = await CliRunner.RunAsync("token", "key", "create", path);
        Assert.Equal(2, again.ExitCode);
        Assert.Contains("already exists", Assert.Single(again.StderrLines));
        Assert.Equal(key, Convert.FromBase64String(File.ReadAllText(path).Trim()));

        await CliRunner.RunAsync("token", "key", "create", path + ".2");
        Assert.NotEqual(key, Convert.FromBase64String(File.ReadAllText(path + ".2").Trim()));
    }

    [Fact]
    public async Task Issued_token_carries_the_claims_and_verifies_only_with_its_key()
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
        Assert.Equal("HS256", jwt.Alg);
        Assert.Equal(MepClaims.IdentityIdFor("alice@example.org").ToString(), jwt.Subject);
        Assert.Equal("Alice@Example.org", jwt.GetClaim(MepClaims.Username).Value);
        Assert.Equal("example.org", jwt.GetClaim(MepClaims.IdentityProvider).Value); // domains are case-insensitive
        Assert.Equal("Alice Liddell", jwt.GetClaim(MepClaims.Name).Value);
        Assert.Equal("alice@example.org", jwt.GetClaim(MepClaims.Email).Value);
        Assert.Equal(TimeSpan.FromHours(2), jwt.ValidTo - jwt.IssuedAt);
        Assert.Equal(jwt.IssuedAt, jwt.ValidFrom);
        Assert.InRange(jwt.IssuedAt, before.UtcDateTime, DateTime.UtcNow.AddSeconds(1));

        var otherKey = await NewKeyAsync("k2");
        var forged = await ValidateAsync(token, otherKey);
        Assert.False(forged.IsValid);
        Assert.IsAssignableFrom<SecurityTokenSignatureKeyNotFoundException>(forged.Exception);
    }

    [Fact]
    public async Task Identity_id_and_idp_can_be_given_and_the_key_file_comes_from_the_environment()
    {
        var keyFile = await NewKeyAsync("k3");
        var id = Guid.NewGuid();
        var env = new Dictionary<string, string> { ["MEP_TOKEN_KEY_FILE"] = keyFile };

        var run = await CliRunner.RunAsync(env, "token", "issue", "--identity", "bob", "--idp", "campus", "--identity-id", id.ToString());

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
    public async Task A_key_file_that_is_too_short_is_refused()
    {
        var keyFile = Path.Combine(dir, "short.key");
        await File.WriteAllTextAsync(keyFile, Convert.ToBase64String(new byte[16]));

        var run = await CliRunner.RunAsync("token", "issue", "--identity", "a@b.org", "--key-file", keyFile);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal($"mep: --key-file '{keyFile}' holds 16 bytes; a signing key needs at least 32", Assert.Single(run.StderrLines));
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
            IssuerSigningKey = new SymmetricSecurityKey(Convert.FromBase64String(File.ReadAllText(keyFile).Trim())),
            ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
            ClockSkew = TimeSpan.Zero,
        });
}
