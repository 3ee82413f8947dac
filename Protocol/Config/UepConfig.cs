namespace Mep.Protocol.Config;

/// <summary>
/// A user endpoint's configuration: the admin's template rendered with the user's values. Names follow Globus
/// Compute's endpoint config where a counterpart exists, so admins can keep their templates. Serialized with
/// <see cref="ProtocolJson"/> (snake_case); read from a rendered document with <see cref="UepConfigReader"/>, which
/// names the key of every error.
/// </summary>
public sealed record UepConfig(
    string? DisplayName,
    EngineConfig Engine,
    string? EndpointSetup,
    string? EndpointTeardown,
    int? IdleHeartbeatsSoft,
    int? IdleHeartbeatsHard,
    double? HeartbeatPeriod,
    IReadOnlyList<Guid>? AllowedFunctions)
{
    public static readonly UepConfig Empty = new(null, EngineConfig.Empty, null, null, null, null, null, null);
}

/// <param name="Type">Globus Compute's engine class name, accepted for templates carried over; only one engine exists here.</param>
/// <param name="PrefetchCapacity">Tasks a worker takes from the queue beyond those it runs (Globus Compute's
/// <c>prefetch_capacity</c>): the next ones are at hand when a task ends, at the price of waiting in that worker while
/// another may be free.</param>
public sealed record EngineConfig(string? Type, int? MaxWorkersPerNode, ProviderConfig? Provider, int? PrefetchCapacity = null)
{
    public static readonly EngineConfig Empty = new(null, null, null);
}

public enum ProviderType
{
    /// <summary>Workers on the node the user endpoint runs on.</summary>
    Local,

    /// <summary>Workers in Slurm jobs (blocks) submitted as the user.</summary>
    Slurm,
}

/// <summary>Where workers run. The Slurm-only fields (partition, account, qos, walltime, scheduler_options) are refused for the local provider.</summary>
/// <param name="Walltime">A Slurm time limit as Slurm writes it (e.g. <c>01:00:00</c>, <c>2-00:00:00</c>).</param>
/// <param name="Exclusive">Slurm: ask for whole nodes (<c>--exclusive</c>); default true, as Globus Compute's SlurmProvider.</param>
public sealed record ProviderConfig(
    ProviderType Type,
    string? Partition = null,
    string? Account = null,
    string? Qos = null,
    string? Walltime = null,
    int? NodesPerBlock = null,
    int? InitBlocks = null,
    int? MinBlocks = null,
    int? MaxBlocks = null,
    string? WorkerInit = null,
    string? SchedulerOptions = null,
    bool? Exclusive = null);

/// <summary>A rendered config that does not fit the model; the message starts with the key path (<c>engine.provider.max_blocks: …</c>).</summary>
public sealed class UepConfigException(string key, string reason) : Exception($"{key}: {reason}")
{
    public string Key { get; } = key;

    public string Reason { get; } = reason;
}
