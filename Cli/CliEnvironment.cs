namespace Mep.Cli;

/// <summary>What the CLI takes from its process besides arguments and writers, replaceable so tests run it in-process.</summary>
internal sealed record CliEnvironment(
    Func<string, string?> Variable,
    bool OutputIsTerminal,
    HttpMessageHandler? HttpHandler = null)
{
    public static CliEnvironment Process => new(
        Environment.GetEnvironmentVariable,
        OutputIsTerminal: !Console.IsOutputRedirected);

    public static CliEnvironment From(IReadOnlyDictionary<string, string> variables, HttpMessageHandler? handler = null) =>
        new(name => variables.TryGetValue(name, out var value) ? value : null, OutputIsTerminal: false, handler);
}
