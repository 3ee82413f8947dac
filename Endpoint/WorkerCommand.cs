namespace Mep.Endpoint;

/// <summary>How to start this same program again as a worker (<c>mep-endpoint worker …</c>).</summary>
internal static class WorkerCommand
{
    /// <summary>
    /// This executable, or, when it runs as <c>dotnet mep-endpoint.dll</c> (the tests and framework-dependent
    /// installs do), the host with the assembly as its first argument.
    /// </summary>
    public static (string Program, IReadOnlyList<string> Prefix) Self()
    {
        var process = Environment.ProcessPath ?? throw new InvalidOperationException("the path of this program is unknown");
        return Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? (process, [typeof(WorkerCommand).Assembly.Location])
            : (process, []);
    }
}
