using YamlDotNet.Serialization;

namespace Mep.Grains.Endpoints;

/// <summary>The admin's <c>config.yaml</c> of one endpoint directory, as written (snake_case keys).</summary>
internal sealed class EndpointConfigFile
{
    [YamlMember(Alias = "endpoint_id")]
    public string? EndpointId { get; set; }

    [YamlMember(Alias = "display_name")]
    public string? DisplayName { get; set; }

    /// <summary>Globus Connect Server identity mapping file, relative to the endpoint directory.</summary>
    [YamlMember(Alias = "identity_mapping")]
    public string? IdentityMapping { get; set; }

    [YamlMember(Alias = "user_config_template")]
    public string? UserConfigTemplate { get; set; }

    [YamlMember(Alias = "user_config_schema")]
    public string? UserConfigSchema { get; set; }

    /// <summary>Function ids users may run here; empty or absent: any function.</summary>
    [YamlMember(Alias = "allowed_functions")]
    public List<string>? AllowedFunctions { get; set; }

    /// <summary>Launcher socket for this endpoint; absent: the silo's default launcher.</summary>
    [YamlMember(Alias = "launcher_socket")]
    public string? LauncherSocket { get; set; }

    [YamlMember(Alias = "idle_timeout")]
    public string? IdleTimeout { get; set; }

    [YamlMember(Alias = "heartbeat_period")]
    public string? HeartbeatPeriod { get; set; }

    [YamlMember(Alias = "max_walltime")]
    public string? MaxWalltime { get; set; }

    [YamlMember(Alias = "output_limit_bytes")]
    public int? OutputLimitBytes { get; set; }
}
