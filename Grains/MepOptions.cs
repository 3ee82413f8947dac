using System.ComponentModel.DataAnnotations;

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

    /// <summary>Walltime of a shell function registered without one.</summary>
    [Range(1, 31_536_000)]
    public double DefaultWalltimeSeconds { get; set; } = 300;
}
