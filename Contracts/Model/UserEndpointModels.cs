namespace Mep.Contracts.Model;

/// <summary>Lifecycle of a user endpoint process, as its grain sees it.</summary>
public enum UserEndpointPhase
{
    Stopped,
    Starting,
    Running,
    Stopping,
    Failed,
}

/// <summary>Who a user endpoint belongs to and how it is configured; fixed for the life of the UEP id.</summary>
/// <param name="UserConfigJson">The user's config in canonical JSON (part of the UEP id).</param>
/// <param name="RenderedConfigJson">The admin template rendered with it, as a JSON object.</param>
[GenerateSerializer, Immutable, Alias("mep.user-endpoint-spec")]
public sealed record UserEndpointSpec(
    [property: Id(0)] string EndpointId,
    [property: Id(1)] string IdentityId,
    [property: Id(2)] string LocalUsername,
    [property: Id(3)] string UserConfigJson,
    [property: Id(4)] string RenderedConfigJson);

[GenerateSerializer, Immutable, Alias("mep.user-endpoint-snapshot")]
public sealed record UserEndpointSnapshot(
    [property: Id(0)] string UserEndpointId,
    [property: Id(1)] UserEndpointPhase Phase,
    [property: Id(2)] string? Reason,
    [property: Id(3)] int PendingTasks,
    [property: Id(4)] UserEndpointSpec? Spec,
    [property: Id(5)] DateTimeOffset? LastHeartbeat,
    [property: Id(6)] int? Pid,
    [property: Id(7)] DateTimeOffset? NextAttemptAt = null,
    [property: Id(8)] int FailedStarts = 0,
    [property: Id(9)] string? Node = null,
    [property: Id(10)] DateTimeOffset? ProcessStartedAt = null,
    [property: Id(11)] DateTimeOffset? LastTaskAt = null);

/// <summary>The launcher saw the UEP process end.</summary>
/// <param name="ExitCode">Exit status; 128 + n when killed by signal n.</param>
/// <param name="Node">The login node whose launcher reported it (pids are per node).</param>
/// <param name="StoppedByLauncher">Why the launcher itself stopped it (its account may no longer run a UEP); else null.</param>
[GenerateSerializer, Immutable, Alias("mep.process-exit")]
public sealed record ProcessExit(
    [property: Id(0)] int Pid,
    [property: Id(1)] int ExitCode,
    [property: Id(2)] string? StderrTail,
    [property: Id(3)] DateTimeOffset At,
    [property: Id(4)] string? StoppedByLauncher = null,
    [property: Id(5)] string? Node = null);

public enum UserEndpointSignalKind
{
    Started,
    Heartbeat,
    Stopping,
}

/// <summary>A non-result event from the UEP process (started, heartbeat, stopping).</summary>
[GenerateSerializer, Immutable, Alias("mep.user-endpoint-signal")]
public sealed record UserEndpointSignal(
    [property: Id(0)] UserEndpointSignalKind Kind,
    [property: Id(1)] DateTimeOffset At,
    [property: Id(2)] int? Pid,
    [property: Id(3)] string? Reason);

/// <summary>What the endpoint shows a caller: their local account and their user endpoints.</summary>
[GenerateSerializer, Immutable, Alias("mep.endpoint-description")]
public sealed record EndpointDescription(
    [property: Id(0)] string EndpointId,
    [property: Id(1)] string DisplayName,
    [property: Id(2)] string? LocalUsername,
    [property: Id(3)] IReadOnlyList<UserEndpointSnapshot> UserEndpoints);
