using System.Globalization;
using Mep.Protocol;
using Mep.Protocol.Api;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Mep.Cli.Commands;

/// <summary>Human renderings of API views. Values go in as <see cref="Text"/>, never markup: they come from users.</summary>
internal static class Views
{
    public static Grid Fields(params (string Name, string? Value)[] fields)
    {
        var grid = new Grid().AddColumn(new GridColumn().NoWrap()).AddColumn();
        foreach (var (name, value) in fields)
        {
            if (!string.IsNullOrEmpty(value))
            {
                grid.AddRow(new Text(name, new Style(decoration: Decoration.Bold)), new Text(value));
            }
        }

        return grid;
    }

    public static Table Table(params string[] headers)
    {
        var table = new Table().Border(TableBorder.Simple);
        for (var i = 0; i < headers.Length; i++)
        {
            // Ids and short fields stay whole on a narrow terminal; only the last (free text) column wraps.
            var column = new TableColumn(new Text(headers[i]));
            table.AddColumn(i < headers.Length - 1 ? column.NoWrap() : column);
        }

        return table;
    }

    public static IRenderable[] Cells(params string?[] values) =>
        values.Select(v => (IRenderable)new Text(v ?? "")).ToArray();

    private const int MaxSummaryJson = 200;

    public static string Status(Protocol.Api.TaskStatus status) => status.ToString().ToLowerInvariant();

    /// <summary>The API's name of a task state (<c>waiting-for-nodes</c>).</summary>
    public static string State(TaskLifecycleState state) => ProtocolJson.Serialize(state).Trim('"');

    /// <summary>
    /// What one line can say about a result: the error, else a Python exception (type: message), else a Python
    /// return value (compact JSON, cut), else stdout's first line, else stderr's.
    /// </summary>
    public static string Summary(TaskResultView? result)
    {
        if (result is null)
        {
            return "";
        }

        if (result.Exception is { } raised)
        {
            return FirstLine($"{raised.Type}: {raised.Message}");
        }

        if (!string.IsNullOrWhiteSpace(result.Error))
        {
            return FirstLine(result.Error);
        }

        if (result.ReturnValue is { } value)
        {
            var json = value.ToJsonString();
            return "return " + (json.Length > MaxSummaryJson ? json[..MaxSummaryJson] + "…" : json);
        }

        var stdout = FirstLine(result.Stdout);
        return stdout.Length > 0 || string.IsNullOrWhiteSpace(result.Stderr) ? stdout : "stderr: " + FirstLine(result.Stderr);
    }

    /// <summary>A Python source in one line: its size (the text itself is in --json).</summary>
    public static string SourceSummary(string source)
    {
        var lines = source.TrimEnd('\n').Split('\n').Length;
        return $"{lines} lines, {System.Text.Encoding.UTF8.GetByteCount(source)} bytes (--json shows the text)";
    }

    public static string FirstLine(string text)
    {
        var trimmed = text.TrimStart('\r', '\n');
        var end = trimmed.IndexOfAny(['\r', '\n']);
        return (end < 0 ? trimmed : trimmed[..end]).TrimEnd();
    }

    /// <summary>A task: its fields, then its timeline (each state, when, and how long after the previous one).</summary>
    public static IRenderable Task(TaskView view)
    {
        var result = view.Result;
        var fields = Fields(
            ("task", view.TaskId.ToString()),
            ("status", Status(view.Status)),
            ("state", State(view.State)),
            ("function", view.FunctionId.ToString()),
            ("endpoint", view.EndpointId),
            ("user endpoint", view.UserEndpointId),
            ("submitted", view.SubmittedAt.ToString("u")),
            ("completed", view.CompletedAt?.ToString("u")),
            ("worker", view.Placement is { } p ? Placement(p) : null),
            ("return code", result?.ReturnCode?.ToString()),
            ("user", result is { Username: { } u } r ? (r.Uid is { } uid ? $"{u} (uid {uid})" : u) : null),
            ("host", result?.Hostname),
            ("error", result?.Error),
            ("return value", result?.ReturnValue?.ToJsonString()),
            ("exception", result?.Exception is { } e ? $"{e.Type}: {e.Message}" : null),
            ("traceback", result?.Exception?.Traceback.TrimEnd()),
            ("stdout", result?.Stdout.TrimEnd()),
            ("stderr", result?.Stderr.TrimEnd()),
            ("truncated", result is { OutputTruncated: true } ? "output was cut at the endpoint's limit" : null));
        if (view.Transitions.Count == 0)
        {
            return fields;
        }

        var timeline = Table("state", "at", "after");
        DateTimeOffset? previous = null;
        foreach (var step in view.Transitions)
        {
            // A step before the previous one is possible (the worker's clock against the cluster's): shown as it is.
            var after = previous is { } before ? (step.At - before).TotalSeconds.ToString("+0.000;-0.000", CultureInfo.InvariantCulture) + "s" : "";
            timeline.AddRow(Cells(State(step.State), step.At.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture), after));
            previous = step.At;
        }

        return new Rows(fields, timeline);
    }

    private static string Placement(TaskPlacementView p)
    {
        var job = p.JobId is { } id ? $", job {id}" : "";
        return $"{p.WorkerId} on {p.Hostname}{job}, attempt {p.Attempt}";
    }
}
