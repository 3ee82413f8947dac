using Mep.Identity;
using Mep.Grains.Policies;
using Mep.Grains.UserConfig;

namespace Mep.Grains.Endpoints;

/// <summary>One endpoint as loaded and checked from its directory: everything the grains need to serve it.</summary>
/// <param name="IdentityMapper">The endpoint's mapping file, followed as it changes: read <c>Current</c> per request.</param>
/// <param name="TemplateFile">The user config template, followed as it changes: read <see cref="Template"/> per request.</param>
/// <param name="SchemaFile">The user config schema, followed as it changes; null when none is configured (any options).</param>
/// <param name="Limits">Result size, kept output lines and worker deaths per task, as the UEP enforces them.</param>
/// <param name="Lifecycle">Start retries, stop and limits of the endpoint's user endpoints.</param>
/// <param name="PamService">The PAM service UEP starts ask the launcher for (config <c>pam:</c>), or null for none.</param>
/// <param name="UserEndpointLimits">Resource limits the launcher sets on each user endpoint (null: none).</param>
/// <param name="ParentConfig">The endpoint's config.yaml as JSON: the template's <c>_GC.parent_config</c>.</param>
public sealed record EndpointDefinition(
    string EndpointId,
    string DisplayName,
    string Directory,
    IdentityMappingFile IdentityMapper,
    WatchedFile<ConfigTemplate> TemplateFile,
    WatchedFile<ConfigSchema>? SchemaFile,
    IReadOnlySet<Guid> AllowedFunctions,
    string? LauncherSocket,
    TimeSpan IdleTimeout,
    TimeSpan HeartbeatPeriod,
    TimeSpan MaxWalltime,
    int OutputLimitBytes,
    Mep.Protocol.Launcher.TaskLimits Limits,
    EndpointPolicy Policy,
    System.Text.Json.Nodes.JsonObject ParentConfig,
    LifecycleSettings Lifecycle,
    string? PamService = null,
    UserEndpointLimits? UserEndpointLimits = null) : IDisposable
{
    public ConfigTemplate Template => TemplateFile.Current;

    public ConfigSchema Schema => SchemaFile?.Current ?? ConfigSchema.AcceptAll;

    /// <summary>Stops following the endpoint's files.</summary>
    public void Dispose()
    {
        IdentityMapper.Dispose();
        TemplateFile.Dispose();
        SchemaFile?.Dispose();
    }

    public bool AllowsFunction(Guid functionId) => AllowedFunctions.Count == 0 || AllowedFunctions.Contains(functionId);
}
