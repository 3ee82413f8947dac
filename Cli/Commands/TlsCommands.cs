using System.CommandLine;
using System.Net;
using Mep.Cli.Tls;

namespace Mep.Cli.Commands;

/// <summary><c>mep tls init</c>: a private CA and a server certificate for a development or test site.</summary>
internal static class TlsCommands
{
    public static Command Create(CliContext context)
    {
        var tls = new Command("tls", "Certificates for a site without a CA of its own");
        tls.Subcommands.Add(Init(context));
        return tls;
    }

    /// <summary>The names a node is reached by on itself: loopback addresses, localhost and its host name.</summary>
    public static IReadOnlyList<string> DefaultNames() =>
        new[] { "localhost", Dns.GetHostName(), "127.0.0.1", "::1" }.Distinct(StringComparer.OrdinalIgnoreCase).ToList();

    private static Command Init(CliContext context)
    {
        var directory = new Argument<string>("directory") { Description = "Where the CA and server files live (created)" };
        var names = new Option<string[]>("--name")
        {
            Description = "A host name or IP address the server certificate must cover, besides localhost, this host's name, 127.0.0.1 and ::1 (repeatable)",
            AllowMultipleArgumentsPerToken = false,
        };
        var command = new Command(
            "init",
            "Create a private CA (ca.pem, ca.key) and a server certificate it issued (server.pem, server.key) in DIRECTORY; "
            + "keeps what still serves, issues the server certificate again when a name is missing or it expires within 30 days")
        {
            directory, names,
        };
        context.SetAction(command, (parse, cancellation) =>
        {
            var extra = parse.GetValue(names) ?? [];
            foreach (var name in extra)
            {
                if (!IPAddress.TryParse(name, out var _) && Uri.CheckHostName(name) != UriHostNameType.Dns)
                {
                    throw new UsageException($"--name '{name}' is neither a host name nor an IP address");
                }
            }

            var all = DefaultNames().Concat(extra).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
            foreach (var line in new TlsDirectory(parse.GetRequiredValue(directory)).Ensure(all))
            {
                context.Out.WriteLine(line);
            }

            return Task.FromResult(CliContext.ExitOk);
        });
        return command;
    }
}
