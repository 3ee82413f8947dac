using System.CommandLine;
using Mep.Protocol.Auth;

namespace Mep.Cli.Commands;

/// <summary><c>mep token issue</c> and <c>mep token key create</c>: development tokens signed with the shared key file.</summary>
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
        var identityId = new Option<string>("--identity-id") { Description = "Identity id (UUID); default derived from --identity" };
        var idp = new Option<string>("--idp") { Description = "Identity provider; default the part of --identity after '@', lower-cased" };
        var name = new Option<string>("--name") { Description = "Display name claim" };
        var email = new Option<string>("--email") { Description = "Email claim" };
        var keyFile = new Option<string>("--key-file") { Description = $"Signing key file (env MEP_TOKEN_KEY_FILE, default {DefaultKeyFile})" };
        var lifetime = new Option<string>("--lifetime") { Description = "How long the token is valid (e.g. 30m, 12h)", DefaultValueFactory = _ => "12h" };

        var command = new Command("issue", "Sign a token for an identity and print it on stdout")
        {
            identity, identityId, idp, name, email, keyFile, lifetime,
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

            var id = parse.GetValue(identityId) is { } given ? Parsing.Guid(given, "--identity-id") : MepClaims.IdentityIdFor(who);
            var valid = Durations.Parse(parse.GetValue(lifetime) ?? "12h", "--lifetime");
            var (path, source) = parse.GetValue(keyFile) is { } flag ? (flag, "--key-file")
                : context.Environment.Variable("MEP_TOKEN_KEY_FILE") is { Length: > 0 } env ? (env, "MEP_TOKEN_KEY_FILE")
                : (DefaultKeyFile, "key file");
            var key = SigningKeyFile.Read(path, source);

            var subject = new TokenSubject(who, id, provider, parse.GetValue(name), parse.GetValue(email));
            context.Out.WriteLine(DevTokens.Issue(subject, key, DateTimeOffset.UtcNow, valid));
            return Task.FromResult(CliContext.ExitOk);
        });
        return command;
    }

    private static Command CreateKey(CliContext context)
    {
        var path = new Argument<string>("path") { Description = "Where to write the key (mode 0600); must not exist" };
        var command = new Command("create", "Write a new random signing key file") { path };
        context.SetAction(command, (parse, _) =>
        {
            SigningKeyFile.Create(parse.GetRequiredValue(path));
            return Task.FromResult(CliContext.ExitOk);
        });
        return command;
    }
}
