namespace Mep.Contracts.Model;

/// <summary>Tasks of one endpoint that one silo accepted and recorded outcomes of, over the last minutes.</summary>
[GenerateSerializer, Immutable, Alias("mep.endpoint-task-rate")]
public sealed record EndpointTaskCounts(
    [property: Id(0)] string EndpointId,
    [property: Id(1)] long SubmittedLastMinute,
    [property: Id(2)] long SubmittedLast5Minutes,
    [property: Id(3)] long SucceededLast5Minutes,
    [property: Id(4)] long FailedLast5Minutes);

/// <summary>What one login node reports for the status page.</summary>
/// <param name="LiveUserEndpoints">UEP processes the node's launcher(s) run; null when a launcher did not answer.</param>
/// <param name="LauncherError">Why <paramref name="LiveUserEndpoints"/> is null.</param>
/// <param name="Tasks">Per endpoint, what this node's grains counted (a site's figure is the sum over nodes).</param>
[GenerateSerializer, Immutable, Alias("mep.node-report")]
public sealed record NodeReport(
    [property: Id(0)] string Node,
    [property: Id(1)] int? LiveUserEndpoints,
    [property: Id(2)] string? LauncherError,
    [property: Id(3)] IReadOnlyList<EndpointTaskCounts> Tasks);
