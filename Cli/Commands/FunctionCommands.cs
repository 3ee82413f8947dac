using System.CommandLine;
using Mep.Protocol;
using Mep.Protocol.Api;
using Mep.Protocol.Python;
using Mep.Protocol.Shell;
using Mep.Sdk;
using Spectre.Console;

namespace Mep.Cli.Commands;

/// <summary><c>mep function register-shell</c>, <c>mep function register-python</c> and <c>mep function show</c>.</summary>
internal static class FunctionCommands
{
    public static Command Create(CliContext context)
    {
        var function = new Command("function", "Register and inspect functions");
        function.Subcommands.Add(RegisterShell(context));
        function.Subcommands.Add(RegisterPython(context));
        function.Subcommands.Add(Show(context));
        return function;
    }

    private static Command RegisterShell(CliContext context)
    {
        var commandText = new Option<string>("--command") { Description = "Shell command template; {name} is replaced by the quoted argument 'name'", Required = true };
        var name = new Option<string>("--name") { Description = "Function name" };
        var walltime = new Option<string>("--walltime") { Description = "Default walltime per task (e.g. 60, 5m)" };
        var command = new Command("register-shell", "Register a shell function and print its id") { commandText, name, walltime };
        context.SetAction(command, async (parse, cancellationToken) =>
        {
            var template = parse.GetRequiredValue(commandText);
            if (string.IsNullOrWhiteSpace(template))
            {
                throw new UsageException("--command must not be empty");
            }

            try
            {
                ShellCommand.Placeholders(template);
            }
            catch (FormatException e)
            {
                throw new UsageException($"--command: {e.Message}");
            }

            double? seconds = parse.GetValue(walltime) is { } w ? Durations.Parse(w, "--walltime").TotalSeconds : null;
            using var client = context.CreateClient(parse);
            var view = await client.RegisterShellFunctionAsync(
                new RegisterShellFunctionRequest(template, parse.GetValue(name), seconds), cancellationToken);
            context.Out.WriteLine(view.FunctionId);
            return CliContext.ExitOk;
        });
        return command;
    }

    private static Command RegisterPython(CliContext context)
    {
        var file = new Argument<string>("file") { Description = "Python source file (UTF-8) that defines the entry function" };
        var entry = new Option<string>("--entry") { Description = "Name of the function tasks call: entry(*args, **kwargs)", Required = true };
        var name = new Option<string>("--name") { Description = "Function name (default: the entry's)" };
        var walltime = new Option<string>("--walltime") { Description = "Default walltime per task (e.g. 60, 5m)" };
        var command = new Command("register-python", "Register a Python function and print its id") { file, entry, name, walltime };
        context.SetAction(command, async (parse, cancellationToken) =>
        {
            var path = parse.GetRequiredValue(file);
            string source;
            try
            {
                source = await File.ReadAllTextAsync(path, cancellationToken);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"file '{path}' cannot be read: {e.Message}");
            }

            // The SDK's checks, reported against the command line's own names for the fields.
            var entryName = parse.GetRequiredValue(entry);
            if (PythonSource.SourceProblem(source) is { } sourceProblem)
            {
                throw new UsageException($"file '{path}': {sourceProblem}");
            }

            if (PythonSource.EntryProblem(entryName) is { } entryProblem)
            {
                throw new UsageException($"--entry: {entryProblem}");
            }

            var functionName = parse.GetValue(name);
            if (functionName is not null && string.IsNullOrWhiteSpace(functionName))
            {
                throw new UsageException("--name must not be blank");
            }

            var function = PythonFunction.FromSource(source, entryName, functionName);
            double? seconds = parse.GetValue(walltime) is { } w ? Durations.Parse(w, "--walltime").TotalSeconds : null;
            using var client = context.CreateClient(parse);
            var view = await client.RegisterFunctionAsync(function with { WalltimeSeconds = seconds }, cancellationToken);
            context.Out.WriteLine(view.FunctionId);
            return CliContext.ExitOk;
        });
        return command;
    }

    private static Command Show(CliContext context)
    {
        var id = new Argument<string>("function-id") { Description = "Function id" };
        var json = new Option<bool>("--json") { Description = "Print the API's JSON" };
        var command = new Command("show", "Show a registered function") { id, json };
        context.SetAction(command, async (parse, cancellationToken) =>
        {
            var functionId = Parsing.Guid(parse.GetRequiredValue(id), "function id");
            using var client = context.CreateClient(parse);
            var view = await client.GetFunctionAsync(functionId, cancellationToken);
            if (parse.GetValue(json))
            {
                context.Out.WriteLine(ProtocolJson.Serialize(view));
                return CliContext.ExitOk;
            }

            var grid = Views.Fields(
                ("function", view.FunctionId.ToString()),
                ("name", view.Name),
                ("kind", view.Kind.ToString().ToLowerInvariant()),
                ("command", view.Command),
                ("arguments", string.Join(", ", view.Arguments)),
                ("entry", view.Entry),
                ("source", view.Source is { } text ? Views.SourceSummary(text) : null),
                ("walltime", $"{view.WalltimeSeconds}s"),
                ("registered", view.RegisteredAt.ToString("u")));
            context.CreateConsole().Write(grid);
            return CliContext.ExitOk;
        });
        return command;
    }
}
