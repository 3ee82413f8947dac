using System.Globalization;
using System.Text.Json.Nodes;
using Mep.Grains.Audit;
using Spectre.Console;
using static Mep.Grains.Audit.AuditJson;

namespace Mep.Cli.Commands;

/// <summary>Audit entries as a table, one row each: what <c>mep audit</c> and <c>mep admin audit</c> print.</summary>
internal static class AuditTable
{
    /// <param name="entries">Each entry with the node whose log holds it (null: this node's, no column).</param>
    public static Table Create(IEnumerable<(string? Node, JsonObject Entry)> entries, bool withNode)
    {
        string[] headers = ["time", "action", "decision", "identity", "local user", "endpoint", "subject", "detail"];
        var table = Views.Table(withNode ? ["log of", .. headers] : headers);
        foreach (var (node, e) in entries)
        {
            string?[] cells =
            [
                TimeOf(e)?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
                Str(e, "action"), Str(e, "decision"), Str(e, "username"), Str(e, "local_user"), Str(e, "endpoint_id"),
                Str(e, "task_id") ?? Str(e, "user_endpoint_id"), Detail(e),
            ];
            table.AddRow(Views.Cells(withNode ? [node, .. cells] : cells));
        }

        return table;
    }

    /// <summary>What the other columns do not say, in one line: status, pid/uid, exit, placement, reason.</summary>
    private static string Detail(JsonObject e)
    {
        var parts = new List<string>();
        void Add(string label, string? value)
        {
            if (!string.IsNullOrEmpty(value))
            {
                parts.Add(label.Length == 0 ? value : $"{label} {value}");
            }
        }

        Add("status", Num(e, "status")?.ToString(CultureInfo.InvariantCulture));
        Add("", Str(e, "state"));
        Add("tasks", Num(e, "tasks")?.ToString(CultureInfo.InvariantCulture));
        Add("function", Str(e, "function_id"));
        Add("rule", Str(e, "mapping_rule"));
        Add("via", Str(e, "matched_identity"));
        Add("pid", Num(e, "pid")?.ToString(CultureInfo.InvariantCulture));
        Add("uid", Num(e, "uid")?.ToString(CultureInfo.InvariantCulture));
        Add("node", Str(e, "node"));
        Add("config", Str(e, "config_hash") is { Length: > 19 } hash ? hash[..19] + "…" : Str(e, "config_hash"));
        Add("limits", Str(e, "resource_control"));
        Add("exit", Num(e, "exit_code")?.ToString(CultureInfo.InvariantCulture));
        Add("signal", Num(e, "signal")?.ToString(CultureInfo.InvariantCulture));
        Add("host", Str(e, "host"));
        Add("worker", Str(e, "worker_id"));
        Add("job", Str(e, "job_id"));
        Add("attempt", Num(e, "attempt")?.ToString(CultureInfo.InvariantCulture));
        Add("next attempt", Str(e, "next_attempt_at"));
        Add("", Str(e, "reason") is { } reason ? Views.FirstLine(reason) : null);
        return string.Join(", ", parts);
    }
}
