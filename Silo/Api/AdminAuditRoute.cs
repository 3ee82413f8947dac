using System.Globalization;
using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains.Audit;
using Mep.Protocol;
using Mep.Protocol.Api;

namespace Mep.Silo.Api;

/// <summary>
/// <c>GET /v1/admin/endpoints/{endpointId}/audit</c>: the endpoint's audit entries from every login node, for its
/// admins. Parameters are checked here (400 naming the parameter); the endpoint grain authorises and gathers.
/// </summary>
internal static class AdminAuditRoute
{
    public const int DefaultLimit = 1000;
    public const int MaxLimit = 10_000;

    public static async Task<IResult> Query(HttpContext http, string endpointId, IGrainFactory grains,
        string? user = null, string? since = null, string? until = null, string? uep = null, string? task = null,
        string[]? action = null, string? limit = null)
    {
        var caller = ApiRoutes.Caller(http);
        var id = ApiRoutes.ParseId(endpointId, "endpoint");
        var query = new AuditQuery(
            Text(user, "user", 256),
            Time(since, "since"),
            Time(until, "until"),
            null,
            Text(uep, "uep", 128),
            task is null ? null
                : Guid.TryParse(task, out var t) ? t.ToString() : throw ProblemException.BadRequest($"task: '{task}' is not a task id (UUID)"),
            Actions(action),
            Limit(limit));
        if (query.Since > query.Until)
        {
            throw ProblemException.BadRequest($"since: {query.Since:O} is after until ({query.Until:O})");
        }

        var result = await grains.GetGrain<IEndpointGrain>(id.ToString()).QueryAudit(caller, query);
        var view = new AdminAuditList(
            id.ToString(),
            result.Entries.Select(e => new AdminAuditEntry(e.Node, System.Text.Json.Nodes.JsonNode.Parse(e.Line)!.AsObject())).ToList(),
            result.NodesAnswered,
            result.NodesFailed.Select(f => new AdminAuditNodeFailure(f.Node, f.Reason)).ToList(),
            result.Truncated);
        return Results.Json(view, ProtocolJson.Options);
    }

    private static string? Text(string? value, string name, int max) =>
        string.IsNullOrWhiteSpace(value) ? null
            : value.Trim().Length <= max ? value.Trim() : throw ProblemException.BadRequest($"{name}: at most {max} characters");

    /// <summary>ISO 8601; UTC unless it says otherwise (the CLI turns "1h ago" into a time before asking).</summary>
    private static DateTimeOffset? Time(string? value, string name) =>
        string.IsNullOrWhiteSpace(value) ? null
            : DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? at
            : throw ProblemException.BadRequest($"{name}: '{value}' is not an ISO 8601 time (e.g. 2025-01-31T12:00:00Z)");

    /// <summary>Repeated, comma-separated or both; each one of <see cref="AuditActions.All"/>.</summary>
    private static IReadOnlyList<string>? Actions(string[]? values)
    {
        var given = (values ?? []).SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToList();
        if (given.Count == 0)
        {
            return null;
        }

        return given.Select(a => AuditActions.All.FirstOrDefault(known => string.Equals(known, a, StringComparison.OrdinalIgnoreCase))
                ?? throw ProblemException.BadRequest($"action: '{a}' is not one of {string.Join(", ", AuditActions.All)}"))
            .Distinct(StringComparer.Ordinal)
            .ToList();
    }

    private static int Limit(string? value) =>
        string.IsNullOrWhiteSpace(value) ? DefaultLimit
            : int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= MaxLimit ? n
            : throw ProblemException.BadRequest($"limit: must be a whole number from 1 to {MaxLimit}, got '{value}'");
}
