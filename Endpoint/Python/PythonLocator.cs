namespace Mep.Endpoint.Python;

/// <summary>
/// Finds <c>python3</c> the way the worker's shell would after worker_init (<c>conda activate</c>, <c>module load</c>
/// put their directory first on PATH): the first executable <c>python3</c> in PATH order.
/// </summary>
internal static class PythonLocator
{
    public const string Name = "python3";

    /// <summary>The path as found (not resolved: conda and pyenv shims rely on it); null if PATH has none.</summary>
    public static string? Find(string? path)
    {
        foreach (var dir in (path ?? "").Split(':'))
        {
            // An empty or relative entry means "the current directory": never run a python3 that happens to lie there.
            if (dir.Length == 0 || !System.IO.Path.IsPathFullyQualified(dir))
            {
                continue;
            }

            var candidate = System.IO.Path.Combine(dir, Name);
            if (File.Exists(candidate) && Native.IsExecutable(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
