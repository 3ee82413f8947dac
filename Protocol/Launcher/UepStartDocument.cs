using Mep.Protocol.Messages;
using System.Text.Json.Nodes;

namespace Mep.Protocol.Launcher;

/// <summary>
/// Everything a UEP process needs to run, handed to it on stdin by the launcher (never on the command line,
/// never in the environment, so other local users cannot read it from /proc).
/// </summary>
/// <param name="Config">The admin's template rendered with the user's config, as JSON (converted from YAML).</param>
public sealed record UepStartDocument(
    string UepId,
    string EndpointId,
    BrokerCredentials Broker,
    double HeartbeatPeriodSeconds,
    double IdleTimeoutSeconds,
    JsonObject Config);

/// <summary>
/// Broker access minted for one UEP: may read only <see cref="TaskQueue"/> and publish only to
/// <see cref="EventsExchange"/> with routing key <see cref="EventsRoutingKey"/>. Each event carries the stream
/// headers <see cref="BrokerNames.StreamNamespaceHeader"/> = <see cref="StreamNamespace"/> and
/// <see cref="BrokerNames.StreamKeyHeader"/> = <see cref="StreamKey"/> (UTF-8), and user-id = <see cref="Username"/>.
/// </summary>
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
    string StreamKey);
