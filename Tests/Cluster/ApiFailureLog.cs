using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Mep.Protocol;

namespace Mep.Tests.Cluster;

/// <summary>
/// API calls made while a node dies, tolerating failure: each failed call (an error status, or no answer in time) is
/// kept with when it happened, so the test can report which calls misbehave during a failover without stopping.
/// </summary>
internal sealed class ApiFailureLog(Stopwatch sinceKill)
{
    private readonly ConcurrentQueue<string> _failures = new();

    public IReadOnlyCollection<string> Failures => _failures;

    public async Task<T?> TryPostAsync<T>(HttpClient client, string node, string path, object body)
        where T : class =>
        await TryAsync<T>(node, $"POST {path}", () => client.PostAsJsonAsync(path, body, ProtocolJson.Options));

    public async Task<T?> TryGetAsync<T>(HttpClient client, string node, string path)
        where T : class =>
        await TryAsync<T>(node, $"GET {path}", () => client.GetAsync(path));

    /// <summary>The failures grouped by call shape and status, with the window in which they happened.</summary>
    public IEnumerable<string> Summary() =>
        _failures.Select(f => f.Split('|'))
            .GroupBy(f => (Call: f[1], Outcome: f[2]))
            .Select(g => $"{g.Key.Call} -> {g.Key.Outcome}: {g.Count()}x, {g.Min(f => double.Parse(f[0], System.Globalization.CultureInfo.InvariantCulture)):F1}"
                + $"-{g.Max(f => double.Parse(f[0], System.Globalization.CultureInfo.InvariantCulture)):F1} s after the kill ({string.Join(",", g.Select(f => f[3]).Distinct())})");

    private async Task<T?> TryAsync<T>(string node, string call, Func<Task<HttpResponseMessage>> send)
        where T : class
    {
        // Ids differ call by call; the shape of the path is what the report needs.
        var shape = System.Text.RegularExpressions.Regex.Replace(call, "[0-9a-f]{8}-[0-9a-f-]{27}|[0-9a-f]{32,}", "{id}");
        try
        {
            using var response = await send();
            var text = await response.Content.ReadAsStringAsync();
            if (response.IsSuccessStatusCode)
            {
                return JsonSerializer.Deserialize<T>(text, ProtocolJson.Options);
            }

            // A 500's detail is a trace id; any other status says what was refused and why.
            Record(shape, $"{(int)response.StatusCode} {Title(text, withDetail: response.StatusCode != System.Net.HttpStatusCode.InternalServerError)}", node);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            Record(shape, e.GetType().Name, node);
        }

        return null;
    }

    private void Record(string call, string outcome, string node) =>
        _failures.Enqueue(string.Join('|', sinceKill.Elapsed.TotalSeconds.ToString("F1", System.Globalization.CultureInfo.InvariantCulture), call, outcome, node));

    private static string Title(string body, bool withDetail)
    {
        try
        {
            var problem = JsonDocument.Parse(body).RootElement;
            var title = problem.TryGetProperty("title", out var t) ? t.GetString() ?? "" : "";
            // Trace ids differ call by call; without them, calls refused for one reason group together.
            var detail = problem.TryGetProperty("detail", out var d)
                ? System.Text.RegularExpressions.Regex.Replace(d.GetString() ?? "", @" ?\(trace id [^)]*\)", "").Replace('|', '/')
                : null;
            return withDetail && detail is not null ? $"{title} ({detail})" : title;
        }
        catch (JsonException)
        {
            return "";
        }
    }
}
