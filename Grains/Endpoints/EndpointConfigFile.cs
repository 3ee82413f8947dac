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

    /// <summary>Lines kept of each of a task's stdout and stderr (the last ones); default 1000.</summary>
    [YamlMember(Alias = "output_lines")]
    public int? OutputLines { get; set; }

    /// <summary>Largest result a task may return, in bytes; default 10 MB.</summary>
    [YamlMember(Alias = "result_size_limit_bytes")]
    public long? ResultSizeLimitBytes { get; set; }

    /// <summary>Runs of one task that may end in its worker's death before it fails instead; default 3.</summary>
    [YamlMember(Alias = "max_worker_deaths")]
    public int? MaxWorkerDeaths { get; set; }

    /// <summary>Identity username domains allowed here (<c>example.org</c>, <c>*.anl.gov</c>); absent: any.</summary>
    [YamlMember(Alias = "allowed_domains")]
    public List<string>? AllowedDomains { get; set; }

    /// <summary>How recent the caller's authentication (token auth_time) must be, e.g. 12h; absent: no limit.</summary>
    [YamlMember(Alias = "session_max_age")]
    public string? SessionMaxAge { get; set; }

    [YamlMember(Alias = "admins")]
    public List<string>? Admins { get; set; }

    /// <summary>Identities (ids or usernames) allowed here; absent or empty: everyone the other policies allow.</summary>
    [YamlMember(Alias = "allowed_users")]
    public List<string>? AllowedUsers { get; set; }

    [YamlMember(Alias = "denied_users")]
    public List<string>? DeniedUsers { get; set; }

    /// <summary>Consecutive failed starts of a UEP before it is failed with its tasks; default 3.</summary>
    [YamlMember(Alias = "max_start_attempts")]
    public int? MaxStartAttempts { get; set; }

    /// <summary>Wait before retrying a failed start, doubled each time; default 1s.</summary>
    [YamlMember(Alias = "start_retry_delay")]
    public string? StartRetryDelay { get; set; }

    [YamlMember(Alias = "start_retry_delay_max")]
    public string? StartRetryDelayMax { get; set; }

    /// <summary>Between SIGTERM and SIGKILL when a UEP is stopped; default 30s.</summary>
    [YamlMember(Alias = "stop_grace_period")]
    public string? StopGracePeriod { get; set; }

    /// <summary>requeue (default) or fail: what a stop does to the UEP's unfinished tasks.</summary>
    [YamlMember(Alias = "tasks_on_stop")]
    public string? TasksOnStop { get; set; }

    [YamlMember(Alias = "max_user_endpoints_per_user")]
    public int? MaxUserEndpointsPerUser { get; set; }

    [YamlMember(Alias = "max_starts_per_minute")]
    public int? MaxStartsPerMinute { get; set; }

    [YamlMember(Alias = "max_concurrent_starts")]
    public int? MaxConcurrentStarts { get; set; }

    /// <summary>Optional PAM account and session management for UEP starts: <c>pam: {enable: true, service: mep}</c>.</summary>
    [YamlMember(Alias = "pam")]
    public PamConfigFile? Pam { get; set; }
    /// <summary>Resource limits of every user endpoint (rlimits, cgroup); see <see cref="UserEndpointLimits"/>.</summary>
    [YamlMember(Alias = "user_endpoint_limits")]
    public UserEndpointLimitsSection? UserEndpointLimits { get; set; }
}
