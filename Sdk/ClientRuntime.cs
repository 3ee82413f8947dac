using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace Mep.Sdk;

/// <summary>
/// What this client tells an endpoint about itself (<c>user_runtime</c>), the counterpart of Globus Compute's SDK and
/// Python versions: admins' templates may pick a matching worker environment from it.
/// </summary>
public static class ClientRuntime
{
    public static JsonObject Describe() => new()
    {
        ["mep_sdk_version"] = SdkVersion(),
        ["dotnet_version"] = Environment.Version.ToString(),
        ["framework_description"] = RuntimeInformation.FrameworkDescription,
        ["os"] = RuntimeInformation.OSDescription,
        ["os_architecture"] = RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant(),
    };

    private static string SdkVersion()
    {
        var assembly = typeof(ClientRuntime).Assembly;
        var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        // The informational version may carry "+<commit>"; the version proper is what a template compares.
        return informational?.Split('+')[0] ?? assembly.GetName().Version?.ToString() ?? "0.0.0";
    }
}
