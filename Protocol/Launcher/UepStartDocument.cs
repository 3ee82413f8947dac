using Mep.Protocol.Messages;
using System.Text.Json.Nodes;

namespace Mep.Protocol.Launcher;

/// <summary>
/// Everything a UEP process needs to run, handed to it on stdin by the launcher (never on the command line,
/// never in the environment, so other local users cannot read it from /proc).
/// </summary>
/// <param name="Config">The admin's template rendered with the user's config, as JSON (converted from YAML).</param>
/// <param name="Limits">The endpoint admin's limits on tasks, enforced by the workers.</param>
/// <param name="AllowedFunctions">The endpoint's function allow-list (config.yaml); empty: any. Checked again in the
/// UEP before a task runs, together with the config's own <c>allowed_functions</c>.</param>
public sealed record UepStartDocument(
    string UepId,
    string EndpointId,
    BrokerCredentials Broker,
    double HeartbeatPeriodSeconds,
    double IdleTimeoutSeconds,
    JsonObject Config,
    TaskLimits Limits,
    IReadOnlyList<Guid> AllowedFunctions);

/// <summary>What the endpoint's admin allows a task (config.yaml).</summary>
/// <param name="ResultSizeLimitBytes">Largest result (a Python return value, or a shell function's kept output) a
/// task may send back; a larger one fails the task with a message that says so. Default 10 MB.</param>
/// <param name="OutputLines">Lines kept of each of a task's stdout and stderr (the last ones).</param>
/// <param name="MaxWorkerDeaths">Runs of one task that may end with their worker's death before the task fails
/// with that reason instead of being run again.</param>
public sealed record TaskLimits(
    long ResultSizeLimitBytes,
    int OutputLines,
    int MaxWorkerDeaths)
{
    public const long DefaultResultSizeLimitBytes = 10_000_000;
    public const int DefaultOutputLines = 1000;
    public const int DefaultMaxWorkerDeaths = 3;

    public static readonly TaskLimits Default = new(DefaultResultSizeLimitBytes, DefaultOutputLines, DefaultMaxWorkerDeaths);
}

/// <summary>
/// Broker access minted for one UEP: may read only <see cref="TaskQueue"/> and publish only to
/// <see cref="EventsExchange"/> with routing key <see cref="EventsRoutingKey"/>. Each event carries the stream
/// headers <see cref="BrokerNames.StreamNamespaceHeader"/> = <see cref="StreamNamespace"/> and
/// <see cref="BrokerNames.StreamKeyHeader"/> = <see cref="StreamKey"/> (UTF-8), and user-id = <see cref="Username"/>.
/// </summary>
/// <param name="Tls">AMQPS, the broker's certificate and host name verified (the silo sends false only for a plain
/// listener on loopback, which it allows nowhere else).</param>
/// <param name="CaFile">PEM CA certificates the broker's certificate must chain to (a site's private CA; readable by
/// the user); null: the system's trust store.</param>
public sealed record BrokerCredentials(
    string Host,
    int Port,
    string VirtualHost,
    string Username,
    string Password,
    string TaskQueue,
    string EventsExchange,
    string EventsRoutingKey,
    string StreamNamespace,
    string StreamKey,
    bool Tls = true,
    string? CaFile = null)
{
    /// <summary>Without the password, so that logging a start document's broker part cannot leak it.</summary>
    public override string ToString() => $"BrokerCredentials {{ Host = {Host}, Port = {Port}, VirtualHost = {VirtualHost}, Username = {Username}, Password = ***, Tls = {Tls} }}";
}
