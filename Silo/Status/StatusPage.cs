using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;

namespace Mep.Silo.Status;

/// <summary>
/// The status page as server-rendered HTML: no script, no data fetched by the browser, a meta refresh every
/// <see cref="RefreshSeconds"/> s. Every value is HTML-encoded (endpoint names come from config files). The sign-in
/// page is the one place with a script: it sends the pasted token once, in a bearer header, and keeps it nowhere.
/// </summary>
internal static class StatusPage
{
    public const int RefreshSeconds = 10;

    private const string Style = """
        body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:0.5em 0 1.5em}
        th,td{border:1px solid #ccc;padding:0.3em 0.8em;text-align:left}th{background:#f3f3f3}td.n{text-align:right}
        .big{font-size:2em;font-weight:bold}.muted{color:#777}.bad{color:#b00}
        """;

    public static string Render(StatusView view)
    {
        var html = new StringBuilder();
        Head(html, "MEP status", $"<meta http-equiv=\"refresh\" content=\"{RefreshSeconds}\">");
        html.Append("<h1>MEP status</h1>");
        html.Append(CultureInfo.InvariantCulture, $"<p class=\"muted\">Signed in as {E(view.Caller)}{(view.SiteAdmin ? " (site admin)" : "")} until {E(Time(view.SessionExpires))}; ")
            .Append(CultureInfo.InvariantCulture, $"generated {E(Time(view.GeneratedAt))}, refreshes every {RefreshSeconds} s.</p>");
        html.Append("<p>Live user endpoints: <span class=\"big\" id=\"live-ueps-total\">")
            .Append(view.LiveUserEndpoints.ToString(CultureInfo.InvariantCulture)).Append("</span></p>");

        html.Append("<h2>Login nodes</h2><table id=\"nodes\"><tr><th>node</th><th>live user endpoints</th><th>drained</th><th>note</th></tr>");
        foreach (var node in view.Nodes)
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr data-node=\"{E(node.Node)}\"><td>{E(node.Node)}</td>")
                .Append(CultureInfo.InvariantCulture, $"<td class=\"n live\">{(node.LiveUserEndpoints is { } n ? n.ToString(CultureInfo.InvariantCulture) : "?")}</td>")
                .Append(CultureInfo.InvariantCulture, $"<td>{(node.Drained ? "yes" : "no")}</td><td class=\"bad\">{E(node.Error ?? "")}</td></tr>");
        }

        html.Append("</table><h2>Endpoints</h2>");
        if (view.Endpoints.Count == 0)
        {
            html.Append("<p class=\"muted\">You administer no endpoint here.</p>");
        }
        else
        {
            html.Append("<table id=\"endpoints\"><tr><th>endpoint</th><th>name</th><th>submitted / min (1 min)</th>")
                .Append("<th>submitted / min (5 min)</th><th>succeeded / min (5 min)</th><th>failed / min (5 min)</th></tr>");
            foreach (var e in view.Endpoints)
            {
                html.Append(CultureInfo.InvariantCulture, $"<tr data-endpoint=\"{E(e.EndpointId)}\"><td>{E(e.EndpointId)}</td><td>{E(e.DisplayName)}</td>")
                    .Append(CultureInfo.InvariantCulture, $"<td class=\"n\">{Rate(e.SubmittedPerMinute)}</td><td class=\"n\">{Rate(e.SubmittedPerMinute5)}</td>")
                    .Append(CultureInfo.InvariantCulture, $"<td class=\"n\">{Rate(e.SucceededPerMinute5)}</td><td class=\"n\">{Rate(e.FailedPerMinute5)}</td></tr>");
            }

            html.Append("</table>");
        }

        if (view.Dashboard && view.SiteAdmin)
        {
            html.Append("<p><a href=\"/dashboard/\">Orleans dashboard</a></p>");
        }

        html.Append("<form method=\"post\" action=\"/status/logout\"><button type=\"submit\">Sign out</button></form></body></html>");
        return html.ToString();
    }

    public static string SignIn()
    {
        var html = new StringBuilder();
        Head(html, "MEP status: sign in", "");
        html.Append("""
            <h1>MEP status</h1>
            <p>For endpoint and site admins. Paste an access token (as for <code>MEP_TOKEN</code>): it is sent once to start a
            session of at most 30 minutes on this node and is not kept by this page.</p>
            <form id="sign-in"><textarea id="token" rows="4" cols="80" autocomplete="off"></textarea><br>
            <button type="submit">Sign in</button></form><p id="error" class="bad"></p>
            <script>
            document.getElementById('sign-in').addEventListener('submit', async ev => {
              ev.preventDefault();
              const token = document.getElementById('token').value.trim();
              const r = await fetch('/status/session', { method: 'POST', headers: { Authorization: 'Bearer ' + token } });
              document.getElementById('token').value = '';
              if (r.ok) { location.reload(); return; }
              let detail = r.statusText;
              try { detail = (await r.json()).detail || detail; } catch (e) { }
              document.getElementById('error').textContent = detail;
            });
            </script></body></html>
            """);
        return html.ToString();
    }

    private static void Head(StringBuilder html, string title, string extra) =>
        html.Append(CultureInfo.InvariantCulture, $"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{E(title)}</title>{extra}<style>{Style}</style></head><body>");

    private static string E(string text) => HtmlEncoder.Default.Encode(text);

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string Rate(double perMinute) => perMinute.ToString("0.#", CultureInfo.InvariantCulture);
}
