using System.CommandLine;
using System.CommandLine.Help;
using Mep.Cli.Commands;

namespace Mep.Cli;

/// <summary>The <c>mep</c> command line. Exit codes: 0 success, 1 some task failed, 2 usage or API error.</summary>
internal static class CliApp
{
    public static async Task<int> RunAsync(string[] args, InvocationConfiguration invocation, CliEnvironment environment)
    {
        var context = new CliContext(invocation, environment);
        var root = new RootCommand("mep: submit functions to a MEP multi-user endpoint and read their results");
        root.Options.Add(context.Url);
        root.Options.Add(context.Token);
        root.Options.Add(context.TokenFile);
        root.Options.Add(context.CaFile);
        root.Subcommands.Add(TokenCommands.Create(context));
        root.Subcommands.Add(FunctionCommands.Create(context));
        root.Subcommands.Add(SubmitCommand.Create(context));
        root.Subcommands.Add(TaskCommands.Create(context));
        root.Subcommands.Add(EndpointCommands.Create(context));
        root.Subcommands.Add(MappingCommands.Create(context));
        root.Subcommands.Add(ConfigCommands.Create(context));
        root.Subcommands.Add(AuditCommand.Create(context));
        root.Subcommands.Add(DbCommands.Create(context));
        root.Subcommands.Add(AdminCommands.Create(context));
        root.Subcommands.Add(DoctorCommand.Create(context));
        root.Subcommands.Add(TlsCommands.Create(context));

        // No response files: "@file.json" is --config's own syntax, and a token must never be read from a surprise file.
        var parse = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        // System.CommandLine would print every error and the whole help text; a script wants one line naming the field.
        if (parse.Errors.Count > 0 && parse.Action is not HelpAction)
        {
            var command = parse.CommandResult.Command;
            if (command.Action is null && command.Subcommands.Count > 0 && parse.UnmatchedTokens.Count == 0)
            {
                var name = command == root ? "mep" : $"mep {string.Join(' ', Path(command))}";
                var names = string.Join(", ", command.Subcommands.Select(c => c.Name));
                return context.Fail(command == root
                    ? $"a command is required: {names} (see mep --help)"
                    : $"'{name}' needs a subcommand: {names} (see {name} --help)");
            }


            return context.Fail(string.Join("; ", parse.Errors.Select(e => e.Message)));
        }

        return await parse.InvokeAsync(invocation);
    }

    private static IEnumerable<string> Path(Command command) =>
        command.Parents.OfType<Command>().FirstOrDefault() is { Parents: var grand } parent && grand.Any()
            ? Path(parent).Append(command.Name)
            : [command.Name];
}
