using System.ComponentModel.DataAnnotations;
using Mep.Contracts.Model;

namespace Mep.Grains;

/// <summary>Site-wide settings of the MEP service (configuration section <c>Mep</c>).</summary>
public sealed class MepOptions
{
    public const string Section = "Mep";

    /// <summary>Endpoint directories to serve (each holds config.yaml and the files it names).</summary>
    [MinLength(1)]
    public List<string> Endpoints { get; set; } = [];

    /// <summary>Launcher socket for endpoints whose config does not name one.</summary>
    [Required]
    public string LauncherSocket { get; set; } = "/run/mep/launcher.sock";

    /// <summary>Largest batch one submit request may carry.</summary>
    [Range(1, 100_000)]
    public int MaxTasksPerSubmit { get; set; } = 10_000;

    /// <summary>Largest arguments of one task, in bytes: a Python task's JSON, a shell task's names and values (UTF-8).</summary>
    [Range(1, 64 * 1024 * 1024)]
    public int MaxArgsBytesPerTask { get; set; } = 1024 * 1024;

    /// <summary>Largest arguments of one submit request, all tasks together: they are held in the user endpoint's
    /// state until the tasks finish.</summary>
    [Range(1, 1024L * 1024 * 1024)]
    public long MaxArgsBytesPerSubmit { get; set; } = 8 * 1024 * 1024;

    /// <summary>Identities (federated usernames) that administer the site: they list and drain login nodes. The same
    /// on every node. Endpoint admins are per endpoint (config.yaml <c>admins</c>).</summary>
    public List<string> SiteAdmins { get; set; } = [];

    /// <summary>Any identity of the caller's set may be the one listed (as for endpoint admins).</summary>
    public bool IsSiteAdmin(CallerIdentity caller) =>
        caller.IdentitySet().Any(i => SiteAdmins.Contains(i.Username, StringComparer.OrdinalIgnoreCase));

    /// <summary>Walltime of a function registered without one.</summary>
    [Range(1, 31_536_000)]
    public double DefaultWalltimeSeconds { get; set; } = 300;
}
