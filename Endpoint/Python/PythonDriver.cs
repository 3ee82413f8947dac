using System.Reflection;

namespace Mep.Endpoint.Python;

/// <summary>The Python side of a slot (mep_worker.py, embedded in this program): passed to <c>python3 -c</c>, so no file is written.</summary>
internal static class PythonDriver
{
    public const string ResourceName = "Mep.Endpoint.Python.mep_worker.py";

    private static readonly Lazy<string> Text = new(() =>
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(ResourceName)
                           ?? throw new InvalidOperationException($"resource {ResourceName} is missing from the build");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    public static string Source => Text.Value;
}
