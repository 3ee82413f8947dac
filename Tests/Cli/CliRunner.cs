using System.CommandLine;
using Mep.Cli;

namespace Mep.Tests.Cli;

internal sealed record CliRun(int ExitCode, string Stdout, string Stderr)
{
    public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public string[] StdoutLines => Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public override string ToString() => $"exit {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}";
}

/// <summary>Runs the <c>mep</c> entry point in-process with captured writers and an environment of our choosing.</summary>
internal static class CliRunner
{
    public static async Task<CliRun> RunAsync(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var invocation = new InvocationConfiguration { Output = stdout, Error = stderr };
        var code = await CliApp.RunAsync(args, invocation, CliEnvironment.From(environment ?? new Dictionary<string, string>()))
            .WaitAsync(TimeSpan.FromSeconds(30));
        return new CliRun(code, stdout.ToString().Replace("\r\n", "\n"), stderr.ToString().Replace("\r\n", "\n"));
    }

    public static Task<CliRun> RunAsync(params string[] args) => RunAsync(null, args);
}
