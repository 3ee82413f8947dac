using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Mep.Protocol.Auth;

namespace Mep.Cli.Commands;

/// <summary>
/// <c>mep token issue</c> and <c>mep token key create</c>: development tokens (ES256) signed with a local key whose
/// public half the silo trusts through a JWKS file.
/// </summary>
internal static class TokenCommands
{
    public const string DefaultKeyFile = ".run/token-signing.key";

    public static Command Create(CliContext context)
    {
        var token = new Command("token", "Issue bearer tokens and manage the signing key");
        token.Subcommands.Add(Issue(context));
        var key = new Command("key", "Manage the token signing key");
        key.Subcommands.Add(CreateKey(context));
        token.Subcommands.Add(key);
        return token;
    }

    private static Command Issue(CliContext context)
    {
        var identity = new Option<string>("--identity") { Description = "Federated username, e.g. alice@example.org", Required = true };
        var identityId = new Option<string>("--identity-id") { Description = "Identity id (sub, a UUID); default from --identity-set, else derived from --identity" };
        var idp = new Option<string>("--idp") { Description = "Identity provider; default the part of --identity after '@', lower-cased" };
        var name = new Option<string>("--name") { Description = "Display name claim" };
        var email = new Option<string>("--email") { Description = "Email claim" };
        var keyFile = new Option<string>("--key-file") { Description = $"Signing key file (env MEP_TOKEN_KEY_FILE, default {DefaultKeyFile})" };
        var lifetime = new Option<string>("--lifetime") { Description = "How long the token is valid (e.g. 30m, 12h)", DefaultValueFactory = _ => "12h" };
        var audience = new Option<string>("--audience") { Description = "The aud claim", DefaultValueFactory = _ => MepClaims.Audience };
        var issuer = new Option<string>("--issuer") { Description = "The iss claim", DefaultValueFactory = _ => MepClaims.Issuer };
        var authTime = new Option<string>("--auth-time") { Description = "When the holder signed in: ISO time, 'now' or 'none' (no auth_time claim)", DefaultValueFactory = _ => "now" };
        var identitySet = new Option<string>("--identity-set") { Description = "JSON file with the linked identities (a list of objects with id, username, ...)" };
        var identitySetClaim = new Option<string>("--identity-set-claim") { Description = "Claim that carries --identity-set", DefaultValueFactory = _ => MepClaims.IdentitySet };

        var command = new Command("issue", "Sign a token for an identity and print it on stdout")
        {
            identity, identityId, idp, name, email, keyFile, lifetime, audience, issuer, authTime, identitySet, identitySetClaim,
        };
        context.SetAction(command, (parse, _) =>
        {
            var who = parse.GetRequiredValue(identity).Trim();
            if (who.Length == 0 || who.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
            {
                throw new UsageException($"--identity '{who}' must be a username without spaces, e.g. alice@example.org");
            }

            var at = who.LastIndexOf('@');
            var provider = parse.GetValue(idp)?.Trim() ?? (at > 0 && at < who.Length - 1 ? who[(at + 1)..].ToLowerInvariant() : null)
                ?? throw new UsageException($"--identity '{who}' has no identity provider after '@'; write user@idp or give --idp");
            if (provider.Length == 0)
            {
                throw new UsageException("--idp must not be empty");
            }

            var now = DateTimeOffset.UtcNow;
            var set = parse.GetValue(identitySet) is { } setFile ? ReadIdentitySet(setFile) : (JsonElement?)null;
            var id = SubjectId(who, parse.GetValue(identityId), set);
            var terms = new TokenTerms(
                NonEmpty(parse.GetValue(issuer), "--issuer"),
                NonEmpty(parse.GetValue(audience), "--audience"),
                now,
                Durations.Parse(parse.GetValue(lifetime) ?? "12h", "--lifetime"),
                AuthTime(parse.GetValue(authTime) ?? "now", now),
                NonEmpty(parse.GetValue(identitySetClaim), "--identity-set-claim"),
                set);
            var (path, source) = parse.GetValue(keyFile) is { } flag ? (flag, "--key-file")
                : context.Environment.Variable("MEP_TOKEN_KEY_FILE") is { Length: > 0 } env ? (env, "MEP_TOKEN_KEY_FILE")
                : (DefaultKeyFile, "key file");
            var key = SigningKeyFile.Read(path, source);
            using (key.Key)
            {
                var subject = new TokenSubject(who, id, provider, parse.GetValue(name), parse.GetValue(email));
                context.Out.WriteLine(DevTokens.Issue(subject, terms, key));
            }

            return Task.FromResult(CliContext.ExitOk);
        });
        return command;
    }

    private static Command CreateKey(CliContext context)
    {
        var path = new Argument<string>("path") { Description = "Where to write the private key (mode 0600); must not exist" };
        var jwks = new Option<string>("--jwks") { Description = "Where to publish the public key as a JWKS file (mode 0644); default PATH.jwks.json" };
        var command = new Command("create", "Write a new ES256 signing key and its public JWKS file") { path, jwks };
        context.SetAction(command, (parse, _) =>
        {
            var keyPath = parse.GetRequiredValue(path);
            var jwksPath = parse.GetValue(jwks) ?? SigningKeyFile.DefaultJwksPath(keyPath);
            var keyId = SigningKeyFile.Create(keyPath, jwksPath);
            context.Out.WriteLine($"key {keyPath}, public JWKS {jwksPath} (kid {keyId})");
            return Task.FromResult(CliContext.ExitOk);
        });
        return command;
    }

    /// <summary>
    /// The token's <c>sub</c>: --identity-id; else, with an identity set, the id of its entry for --identity; else the
    /// id derived from the username. With a set, the silo refuses a token whose own identity is not in it: so do we.
    /// </summary>
    private static string SubjectId(string identity, string? given, JsonElement? set)
    {
        // A UUID in its usual lower-case form, as Globus Auth writes them (other ids can come from an identity set).
        var id = given is null ? null : Parsing.Guid(given, "--identity-id").ToString();
        if (set is not { } entries)
        {
            return id ?? MepClaims.IdentityIdFor(identity).ToString();
        }

        var ids = entries.EnumerateArray().Select(e => (Id: Field(e, "id") ?? Field(e, "sub"), Username: Field(e, "username"))).ToList();
        if (id is null)
        {
            return ids.FirstOrDefault(e => string.Equals(e.Username, identity, StringComparison.OrdinalIgnoreCase)).Id
                ?? throw new UsageException($"--identity-set has no entry with username '{identity}' and an id: the token's own identity must be in the set");
        }

        return ids.Any(e => string.Equals(e.Id, id, StringComparison.OrdinalIgnoreCase))
            ? id
            : throw new UsageException($"--identity-set has no entry with id '{id}': the token's own identity must be in the set");
    }

    private static JsonElement ReadIdentitySet(string file)
    {
        JsonElement set;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(file));
            set = document.RootElement.Clone();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--identity-set '{file}' cannot be read: {e.Message}");
        }
        catch (JsonException e)
        {
            throw new UsageException($"--identity-set '{file}' is not JSON: {e.Message}");
        }

        return set.ValueKind == JsonValueKind.Array && set.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Object)
            ? set
            : throw new UsageException($"--identity-set '{file}' must hold a JSON list of identity objects");
    }

    private static DateTimeOffset? AuthTime(string text, DateTimeOffset now) => text.Trim() switch
    {
        "now" => now,
        "none" => null,
        var iso when DateTimeOffset.TryParse(iso, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time) => time,
        _ => throw new UsageException($"--auth-time '{text}' must be an ISO time (e.g. 2025-01-31T09:00:00Z), 'now' or 'none'"),
    };

    private static string NonEmpty(string? value, string field) =>
        value is { } v && v.Trim().Length > 0 ? v.Trim() : throw new UsageException($"{field} must not be empty");

    private static string? Field(JsonElement entry, string name) =>
        entry.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
