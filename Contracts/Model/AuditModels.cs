namespace Mep.Contracts.Model;

/// <summary>Which audit entries to read; null fields do not filter. Text fields compare ignoring case.</summary>
/// <param name="User">A local account name or an identity username (as the mapping gave it, or as the caller presented it).</param>
/// <param name="Since">Entries at or after this time.</param>
/// <param name="Until">Entries at or before this time.</param>
/// <param name="Actions">Only these actions (<c>AuditActions</c> names).</param>
/// <param name="Limit">At most this many entries, the newest; null: all.</param>
[GenerateSerializer, Immutable, Alias("mep.audit-query")]
public sealed record AuditQuery(
    [property: Id(0)] string? User = null,
    [property: Id(1)] DateTimeOffset? Since = null,
    [property: Id(2)] DateTimeOffset? Until = null,
    [property: Id(3)] string? EndpointId = null,
    [property: Id(4)] string? UserEndpointId = null,
    [property: Id(5)] string? TaskId = null,
    [property: Id(6)] IReadOnlyList<string>? Actions = null,
    [property: Id(7)] int? Limit = null);

/// <summary>What one node's audit log holds for a query: its matching lines as stored, oldest first.</summary>
/// <param name="Lines">The matching entries, one JSON object each, as the node's log keeps them.</param>
/// <param name="Truncated">More entries matched than the query's limit: the oldest were left out.</param>
/// <param name="Skipped">Lines that are not audit entries (a torn last line, foreign text).</param>
[GenerateSerializer, Immutable, Alias("mep.node-audit-answer")]
public sealed record NodeAuditAnswer(
    [property: Id(0)] string Node,
    [property: Id(1)] IReadOnlyList<string> Lines,
    [property: Id(2)] bool Truncated,
    [property: Id(3)] int Skipped);

/// <summary>One entry of a cluster-wide audit query: the node whose log holds it, and the stored JSON line.</summary>
[GenerateSerializer, Immutable, Alias("mep.node-audit-line")]
public sealed record NodeAuditLine(
    [property: Id(0)] string Node,
    [property: Id(1)] string Line);

/// <summary>A node whose audit log could not be read for a query, and why.</summary>
[GenerateSerializer, Immutable, Alias("mep.node-audit-failure")]
public sealed record NodeAuditFailure(
    [property: Id(0)] string Node,
    [property: Id(1)] string Reason);

/// <summary>The audit entries of every node that answered, merged in time order, and which nodes did not answer.</summary>
/// <param name="Truncated">More entries matched than the limit: the oldest were left out.</param>
[GenerateSerializer, Immutable, Alias("mep.audit-query-result")]
public sealed record AuditQueryResult(
    [property: Id(0)] IReadOnlyList<NodeAuditLine> Entries,
    [property: Id(1)] IReadOnlyList<string> NodesAnswered,
    [property: Id(2)] IReadOnlyList<NodeAuditFailure> NodesFailed,
    [property: Id(3)] bool Truncated);
