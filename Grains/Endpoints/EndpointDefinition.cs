using Mep.Identity;
using Mep.Grains.Policies;
using Mep.Grains.UserConfig;

namespace Mep.Grains.Endpoints;

/// <summary>One endpoint as loaded and checked from its directory: everything the grains need to serve it.</summary>
/// <param name="IdentityMapper">The endpoint's mapping file, followed as it changes: read <c>Current</c> per request.</param>
/// <param name="ParentConfig">The endpoint's config.yaml as JSON: the template's <c>_GC.parent_config</c>.</param>
public sealed record EndpointDefinition(
    string EndpointId,
    string DisplayName,
    string Directory,
    IdentityMappingFile IdentityMapper,
    ConfigTemplate Template,
    ConfigSchema Schema,
    IReadOnlySet<Guid> AllowedFunctions,
    string? LauncherSocket,
    TimeSpan IdleTimeout,
    TimeSpan HeartbeatPeriod,
    TimeSpan MaxWalltime,
    int OutputLimitBytes,
    EndpointPolicy Policy,
    System.Text.Json.Nodes.JsonObject ParentConfig)
{
    public bool AllowsFunction(Guid functionId) => AllowedFunctions.Count == 0 || AllowedFunctions.Contains(functionId);
}
