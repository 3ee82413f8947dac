using Mep.Protocol.Api;
using Mep.Protocol.Python;

namespace Mep.Sdk;

/// <summary>
/// A Python function to register: its source and the name of the function in it that tasks call
/// (<c>entry(*positional_args, **keyword_args)</c>, arguments and return value as JSON). Checked here as the server
/// checks it, so a mistake shows before a request is made:
/// <code>
/// var view = await client.RegisterFunctionAsync(PythonFunction.FromSource("def add(a, b):\n    return a + b\n", "add"));
/// var sum = await executor.Call(view.FunctionId, new JsonArray(1, 2));   // 3
/// </code>
/// </summary>
public sealed record PythonFunction
{
    private PythonFunction(string source, string entry, string? name)
    {
        Source = source;
        Entry = entry;
        Name = name;
    }

    public string Source { get; }

    public string Entry { get; }

    /// <summary>The name shown for the function; the server uses <see cref="Entry"/> when it is null.</summary>
    public string? Name { get; }

    /// <summary>Default walltime of the function's tasks; the server's default when null.</summary>
    public double? WalltimeSeconds { get; init; }

    /// <exception cref="ArgumentException">The source is empty, too large or holds a NUL; the entry is not a Python
    /// identifier, or is a keyword.</exception>
    public static PythonFunction FromSource(string source, string entry, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(entry);
        if (PythonSource.SourceProblem(source) is { } sourceProblem)
        {
            throw new ArgumentException($"source: {sourceProblem}", nameof(source));
        }

        if (PythonSource.EntryProblem(entry) is { } entryProblem)
        {
            throw new ArgumentException($"entry: {entryProblem}", nameof(entry));
        }

        if (name is not null && string.IsNullOrWhiteSpace(name))
        {
            throw new ArgumentException("name: must not be blank", nameof(name));
        }

        return new PythonFunction(source, entry, name);
    }

    /// <summary><see cref="FromSource"/> with the source read from a UTF-8 file.</summary>
    public static PythonFunction FromFile(string path, string entry, string? name = null) =>
        FromSource(File.ReadAllText(path), entry, name);

    public RegisterPythonFunctionRequest ToRequest() => new(Source, Entry, Name, WalltimeSeconds);
}
