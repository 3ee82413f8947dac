namespace Mep.Endpoint;

/// <summary>How to start this same program again as a worker (<c>mep-endpoint worker …</c>).</summary>
internal static class WorkerCommand
{
    /// <summary>
    /// This executable, or, when it runs as <c>dotnet mep-endpoint.dll</c> (a framework-dependent build), the host with
    /// the assembly as its first argument. The assembly is named by its directory, not Assembly.Location, which the
    /// Native AOT build (the published one) does not have.
    /// </summary>
    public static (string Program, IReadOnlyList<string> Prefix) Self()
    {
        var process = Environment.ProcessPath ?? throw new InvalidOperationException("the path of this program is unknown");
        return Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? (process, [Path.Combine(AppContext.BaseDirectory, "mep-endpoint.dll")])
            : (process, []);
    }
}
