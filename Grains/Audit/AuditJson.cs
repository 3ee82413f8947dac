using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Mep.Grains.Audit;

/// <summary>
/// Stored audit entries as their readers see them: JSON objects with snake_case keys (see <see cref="AuditEntry"/>).
/// Read as plain JSON, not into <see cref="AuditEntry"/>, so that lines written by an older or newer MEP (fields
/// added, unknown ones) stay readable.
/// </summary>
public static class AuditJson
{
    /// <summary>The entry on one line, or null when the line is not an audit entry (no time or action).</summary>
    public static JsonObject? Parse(string line)
    {
        try
        {
            return (JsonNode.Parse(line) as JsonObject) is { } entry && TimeOf(entry) is not null && Str(entry, "action") is not null ? entry : null;
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            return null;
        }
    }

    public static string? Str(JsonObject e, string name) =>
        e[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    public static long? Num(JsonObject e, string name) =>
        e[name] is JsonValue v && v.TryGetValue<long>(out var n) ? n : null;

    public static DateTimeOffset? TimeOf(JsonObject e) =>
        Str(e, "time") is { } t && DateTimeOffset.TryParse(t, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? at : null;

    /// <summary>Whether a parsed entry matches every filter of <paramref name="query"/> (its limit aside).</summary>
    public static bool Matches(this Mep.Contracts.Model.AuditQuery query, JsonObject e)
    {
        var time = TimeOf(e) ?? DateTimeOffset.MinValue;
        return (query.Since is not { } since || time >= since)
            && (query.Until is not { } until || time <= until)
            && (query.User is not { } user || Same(Str(e, "local_user"), user) || Same(Str(e, "username"), user))
            && (query.EndpointId is not { } endpoint || Same(Str(e, "endpoint_id"), endpoint))
            && (query.UserEndpointId is not { } uep || Same(Str(e, "user_endpoint_id"), uep))
            && (query.TaskId is not { } task || Same(Str(e, "task_id"), task))
            && (query.Actions is not { } actions || actions.Contains(Str(e, "action") ?? "", StringComparer.Ordinal));
    }

    private static bool Same(string? value, string wanted) => string.Equals(value, wanted, StringComparison.OrdinalIgnoreCase);
}
