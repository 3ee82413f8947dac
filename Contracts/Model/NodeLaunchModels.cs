namespace Mep.Contracts.Model;

/// <summary>What a UEP grain asks a node's launcher to start.</summary>
/// <param name="EndpointId">Whose launcher socket to use (an endpoint may name its own).</param>
/// <param name="StartDocument">The UEP start document (JSON) for the process's stdin.</param>
/// <param name="Limits">Resource limits as the launcher protocol carries them, serialized (null: the launcher's maxima).</param>
[GenerateSerializer, Immutable, Alias("mep.node-launch-request")]
public sealed record NodeLaunchRequest(
    [property: Id(0)] string EndpointId,
    [property: Id(1)] string UepId,
    [property: Id(2)] string Username,
    [property: Id(3)] string StartDocument,
    [property: Id(4)] string? LimitsJson,
    [property: Id(5)] string? PamService);

/// <summary>The launcher's answer: a pid (and how the UEP is contained), or its refusal.</summary>
[GenerateSerializer, Immutable, Alias("mep.node-launch-result")]
public sealed record NodeLaunchResult(
    [property: Id(0)] int? Pid,
    [property: Id(1)] string? ResourceControl,
    [property: Id(2)] string? Refusal,
    [property: Id(3)] string Node);

/// <summary>A UEP process a node's launcher runs.</summary>
[GenerateSerializer, Immutable, Alias("mep.node-uep")]
public sealed record NodeUep(
    [property: Id(0)] string UepId,
    [property: Id(1)] string Username,
    [property: Id(2)] int Pid,
    [property: Id(3)] DateTimeOffset StartedAt);

/// <summary>The node has no live silo: nothing can be started or stopped there now.</summary>
[GenerateSerializer, Alias("mep.node-unavailable")]
public sealed class NodeUnavailableException : Exception
{
    public NodeUnavailableException()
    {
    }

    public NodeUnavailableException(string message)
        : base(message)
    {
    }

    public NodeUnavailableException(string message, Exception inner)
        : base(message, inner)
    {
    }

    [Id(0)]
    public string? Node { get; init; }
}
