using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mep.Grains.Audit;
using Spectre.Console;

namespace Mep.Cli.Commands;

/// <summary>
/// <c>mep audit</c>: reads this node's audit log (the live file and its rotated predecessors, oldest first), keeps the
/// entries that match every filter given, and prints them as a table or, with --json, as the stored JSON lines.
/// Runs on the node, as an account that can read the file (root, or the silo's account or group): no API involved.
/// </summary>
internal static class AuditCommand
{
    /// <summary>The silo's default: <c>audit.log</c> in its default data directory (Mep:DataDirectory).</summary>
    public const string DefaultFile = "/var/lib/mep/audit.log";

    public static Command Create(CliContext context)
    {
        var user = new Option<string>("--user")
        {
            Description = "Entries of this local account or identity username (as the mapping gave it, or as the caller presented it)",
        };
        var since = new Option<string>("--since") { Description = "From this long ago (90s, 30m, 1h, 2d) or this time (2025-01-31T12:00Z)" };
        var until = new Option<string>("--until") { Description = "Up to this long ago or this time" };
        var endpoint = new Option<string>("--endpoint") { Description = "Entries of this endpoint id" };
        var userEndpoint = new Option<string>("--uep") { Description = "Entries of this user endpoint id" };
        var task = new Option<string>("--task") { Description = "Entries of this task id" };
        var action = new Option<string[]>("--action")
        {
            Description = $"Only these actions (repeat or separate with commas): {string.Join(", ", AuditActions.All)}",
            AllowMultipleArgumentsPerToken = false,
        };
        var json = new Option<bool>("--json") { Description = "Print the matching entries as stored: one JSON object per line" };
        var file = new Option<string>("--file") { Description = $"The audit log (its rotated files PATH.1, PATH.2, … are read too); default {DefaultFile}" };
        var command = new Command("audit", "Query this node's audit log: access decisions, UEP starts and exits, task events")
        {
            user, since, until, endpoint, userEndpoint, task, action, json, file,
        };
        context.SetAction(command, (parse, ct) =>
        {
            var now = DateTimeOffset.UtcNow;
            var filter = new AuditFilter(
                parse.GetValue(user),
                parse.GetValue(since) is { } s ? Time(s, "--since", now) : null,
                parse.GetValue(until) is { } u ? Time(u, "--until", now) : null,
                parse.GetValue(endpoint),
                parse.GetValue(userEndpoint),
                parse.GetValue(task) is { } t ? Parsing.Guid(t, "--task").ToString() : null,
                Actions(parse.GetValue(action)));
            if (filter.Since > filter.Until)
            {
                throw new UsageException($"--since ({filter.Since:u}) is after --until ({filter.Until:u})");
            }

            var path = parse.GetValue(file) ?? DefaultFile;
            var matches = new List<(string Line, JsonObject Entry)>();
            var skipped = 0;
            foreach (var name in Files(path))
            {
                foreach (var line in ReadLines(name))
                {
                    ct.ThrowIfCancellationRequested();
                    if (string.IsNullOrWhiteSpace(line))
                    {
                        continue;
                    }

                    if (Parse(line) is not { } entry)
                    {
                        skipped++;
                        continue;
                    }

                    if (filter.Matches(entry))
                    {
                        matches.Add((line, entry));
                    }
                }
            }

            if (skipped > 0)
            {
                context.Error.WriteLine($"mep: warning: skipped {skipped} line{(skipped == 1 ? "" : "s")} of {path} (or its rotated files) that are not audit entries");
            }

            if (parse.GetValue(json))
            {
                foreach (var (line, _) in matches)
                {
                    context.Out.WriteLine(line);
                }
            }
            else if (matches.Count == 0)
            {
                context.Out.WriteLine("no matching audit entries");
            }
            else
            {
                var table = Views.Table("time", "action", "decision", "identity", "local user", "endpoint", "subject", "detail");
                foreach (var (_, e) in matches)
                {
                    table.AddRow(Views.Cells(
                        TimeOf(e)?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
                        Str(e, "action"), Str(e, "decision"), Str(e, "username"), Str(e, "local_user"), Str(e, "endpoint_id"),
                        Str(e, "task_id") ?? Str(e, "user_endpoint_id"), Detail(e)));
                }

                context.CreateConsole().Write(table);
            }

            return Task.FromResult(CliContext.ExitOk);
        });
        return command;
    }

    /// <summary>The rotated files oldest first (highest number first), then the live file.</summary>
    private static List<string> Files(string path)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        var name = Path.GetFileName(full);
        if (!File.Exists(full))
        {
            throw new UsageException(Directory.Exists(full) ? $"--file '{path}' is a directory" : $"--file '{path}' does not exist");
        }

        var rotated = new List<(int N, string Path)>();
        try
        {
            foreach (var candidate in Directory.EnumerateFiles(dir, name + ".*"))
            {
                // The pattern also matches the live file itself ("name.*" takes an empty extension): skip it.
                var found = Path.GetFileName(candidate);
                var suffix = found.Length > name.Length + 1 && found[name.Length] == '.' ? found[(name.Length + 1)..] : "";
                if (suffix.Length is > 0 and < 10 && suffix.All(char.IsAsciiDigit))
                {
                    rotated.Add((int.Parse(suffix, CultureInfo.InvariantCulture), candidate));
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--file '{path}': its directory cannot be listed: {e.Message}");
        }

        return rotated.OrderByDescending(r => r.N).Select(r => r.Path).Append(full).ToList();
    }

    private static IEnumerable<string> ReadLines(string path)
    {
        StreamReader reader;
        try
        {
            // The silo holds the live file open for writing: share it, or the open is refused.
            reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
        }
        catch (FileNotFoundException)
        {
            // Rotated away between listing and opening: its lines are in the next file now.
            yield break;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--file '{path}' cannot be read: {e.Message}");
        }

        using (reader)
        {
            while (reader.ReadLine() is { } line)
            {
                yield return line;
            }
        }
    }

    private static JsonObject? Parse(string line)
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

    /// <summary>A duration back from now, or an absolute time (ISO 8601; UTC unless it says otherwise).</summary>
    private static DateTimeOffset Time(string text, string option, DateTimeOffset now)
    {
        var trimmed = text.Trim();
        if (trimmed.Length > 0 && char.IsAsciiDigit(trimmed[0]) && (trimmed.Contains('-') || trimmed.Contains(':')))
        {
            return DateTimeOffset.TryParse(trimmed, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
                ? at
                : throw new UsageException($"{option} '{text}' is not a time (e.g. 2025-01-31T12:00Z) or a duration (e.g. 1h, 30m, 2d)");
        }

        return now - Durations.Parse(text, option);
    }

    private static HashSet<string>? Actions(string[]? values)
    {
        if (values is null || values.Length == 0)
        {
            return null;
        }

        var actions = new HashSet<string>(StringComparer.Ordinal);
        foreach (var value in values.SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)))
        {
            var known = AuditActions.All.FirstOrDefault(a => string.Equals(a, value, StringComparison.OrdinalIgnoreCase))
                ?? throw new UsageException($"--action '{value}' is not one of {string.Join(", ", AuditActions.All)}");
            actions.Add(known);
        }

        return actions.Count > 0 ? actions : throw new UsageException("--action needs at least one action");
    }

    private static string? Str(JsonObject e, string name) =>
        e[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static long? Num(JsonObject e, string name) =>
        e[name] is JsonValue v && v.TryGetValue<long>(out var n) ? n : null;

    private static DateTimeOffset? TimeOf(JsonObject e) =>
        Str(e, "time") is { } t && DateTimeOffset.TryParse(t, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? at : null;

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

    private sealed record AuditFilter(
        string? User, DateTimeOffset? Since, DateTimeOffset? Until, string? Endpoint, string? UserEndpoint, string? Task, HashSet<string>? Actions)
    {
        public bool Matches(JsonObject e)
        {
            var time = TimeOf(e)!.Value;
            return (Since is not { } since || time >= since)
                && (Until is not { } until || time <= until)
                && (User is null || Same(Str(e, "local_user"), User) || Same(Str(e, "username"), User))
                && (Endpoint is null || Same(Str(e, "endpoint_id"), Endpoint))
                && (UserEndpoint is null || Same(Str(e, "user_endpoint_id"), UserEndpoint))
                && (Task is null || Same(Str(e, "task_id"), Task))
                && (Actions is null || Actions.Contains(Str(e, "action")!));
        }

        private static bool Same(string? value, string wanted) => string.Equals(value, wanted, StringComparison.OrdinalIgnoreCase);
    }
}
