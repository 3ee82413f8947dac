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

    public static string Status(Protocol.Api.TaskStatus status) => status.ToString().ToLowerInvariant();

    /// <summary>What one line can say about a result: the error, else stdout's first line, else stderr's.</summary>
    public static string Summary(TaskResultView? result)
    {
        if (result is null)
        {
            return "";
        }

        if (!string.IsNullOrWhiteSpace(result.Error))
        {
            return FirstLine(result.Error);
        }

        var stdout = FirstLine(result.Stdout);
        return stdout.Length > 0 || string.IsNullOrWhiteSpace(result.Stderr) ? stdout : "stderr: " + FirstLine(result.Stderr);
    }

    public static string FirstLine(string text)
    {
        var trimmed = text.TrimStart('\r', '\n');
        var end = trimmed.IndexOfAny(['\r', '\n']);
        return (end < 0 ? trimmed : trimmed[..end]).TrimEnd();
    }

    public static Grid Task(TaskView view) => Fields(
        ("task", view.TaskId.ToString()),
        ("status", Status(view.Status)),
        ("function", view.FunctionId.ToString()),
        ("endpoint", view.EndpointId),
        ("user endpoint", view.UserEndpointId),
        ("submitted", view.SubmittedAt.ToString("u")),
        ("completed", view.CompletedAt?.ToString("u")),
        ("return code", view.Result?.ReturnCode?.ToString()),
        ("user", view.Result is { Username: { } u } r ? (r.Uid is { } uid ? $"{u} (uid {uid})" : u) : null),
        ("host", view.Result?.Hostname),
        ("error", view.Result?.Error),
        ("stdout", view.Result?.Stdout.TrimEnd()),
        ("stderr", view.Result?.Stderr.TrimEnd()),
        ("truncated", view.Result is { OutputTruncated: true } ? "output was cut at the endpoint's limit" : null));
}
