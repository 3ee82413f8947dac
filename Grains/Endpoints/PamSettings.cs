using System.Text.RegularExpressions;
using YamlDotNet.Serialization;

namespace Mep.Grains.Endpoints;

/// <summary>The <c>pam:</c> mapping of config.yaml, as written: <c>pam: {enable: true, service: mep}</c>.</summary>
internal sealed class PamConfigFile
{
    /// <summary>true or false; text here so that a bad value is reported with its key.</summary>
    [YamlMember(Alias = "enable")]
    public string? Enable { get; set; }

    /// <summary>The PAM service (file /etc/pam.d/NAME on the launcher's node); default "mep".</summary>
    [YamlMember(Alias = "service")]
    public string? Service { get; set; }
}

/// <summary>
/// Optional PAM for an endpoint's UEP starts. The silo only names the service in the start request; the launcher
/// decides whether that service is allowed (Launcher:Pam:Services), may require PAM anyway, runs the account check and
/// opens the session.
/// </summary>
public static partial class PamSettings
{
    public const string DefaultService = "mep";

    // The launcher's rule for a file name in /etc/pam.d.
    [GeneratedRegex(@"\A[A-Za-z0-9_][A-Za-z0-9._-]{0,63}\z")]
    private static partial Regex ServiceName();

    /// <summary>The service UEP starts ask for, or null when PAM is off (no <c>pam:</c>, or <c>enable: false</c>).</summary>
    internal static string? Read(PamConfigFile? pam, string configPath)
    {
        if (pam is null)
        {
            return null;
        }

        var enabled = pam.Enable?.Trim().ToLowerInvariant() switch
        {
            null or "false" => false,
            "true" => true,
            var other => throw new InvalidOperationException($"{configPath}: pam.enable must be true or false, not '{other}'"),
        };
        var service = pam.Service ?? DefaultService;
        if (!ServiceName().IsMatch(service))
        {
            throw new InvalidOperationException(
                $"{configPath}: pam.service '{service}' is not a PAM service name (letters, digits, '.', '_', '-'; at most 64)");
        }

        return enabled ? service : null;
    }
}
