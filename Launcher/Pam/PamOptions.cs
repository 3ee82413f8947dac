namespace Mep.Launcher.Pam;

/// <summary>
/// PAM for UEP starts (section <c>Launcher:Pam</c>). The launcher decides: a start request may name a service, and
/// only one listed here is used; with <see cref="Required"/> a request naming none goes through PAM anyway.
/// </summary>
public sealed class PamOptions
{
    /// <summary>The default service, when <see cref="Services"/> is empty.</summary>
    public const string DefaultService = "mep";

    /// <summary>
    /// PAM service names a start may use, each with its file /etc/pam.d/NAME (root's, not writable by group or others).
    /// Empty (the default): just "mep". (A list, not a default value in it: configuration binding appends to a list.)
    /// </summary>
    public List<string> Services { get; set; } = [];

    /// <summary>
    /// Every start goes through PAM: a request without a service uses the first of <see cref="Services"/>, so that
    /// the silo cannot skip PAM. Root launcher only.
    /// </summary>
    public bool Required { get; set; }

    /// <summary>The allowed services, the default applied.</summary>
    public IReadOnlyList<string> AllowedServices => Services.Count > 0 ? Services : [DefaultService];
}
