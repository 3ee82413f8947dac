using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mep.Protocol;
using Mep.Protocol.Api;

namespace Mep.Sdk;

/// <summary>
/// The REST API v1 over HTTPS with a bearer token. Thread-safe; one instance per base address and token.
/// Every non-2xx answer throws <see cref="MepApiException"/>; transport failures surface as <see cref="HttpRequestException"/>
/// (a refused server certificate with a message that says so). Without a handler, the server is verified against the
/// CA file in <c>MEP_CA_FILE</c> when it is set, else against the system's trust store (<see cref="MepTls"/>).
/// </summary>
public sealed class MepClient : IDisposable
{
    // Requests are written in the strict protocol dialect. Answers are read leniently (unknown members skipped) so a
    // newer server that adds a field does not break an older client; the server stays strict about what it accepts.
    private static readonly JsonSerializerOptions ReadOptions =
        new(ProtocolJson.Options) { UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Skip };

    private readonly HttpClient http;

    public MepClient(Uri baseAddress, string bearerToken, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(baseAddress);
        ArgumentException.ThrowIfNullOrWhiteSpace(bearerToken);
        if (!baseAddress.IsAbsoluteUri)
        {
            throw new ArgumentException("the base address must be absolute", nameof(baseAddress));
        }

        // A trailing slash makes relative paths resolve under a path prefix (https://host/mep/ + v1/tasks).
        BaseAddress = baseAddress.AbsoluteUri.EndsWith('/') ? baseAddress : new Uri(baseAddress.AbsoluteUri + "/");
        http = handler is null ? new HttpClient(MepTls.CreateHandlerFromEnvironment()) : new HttpClient(handler, disposeHandler: false);
        http.BaseAddress = BaseAddress;
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearerToken.Trim());
        http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/problem+json"));
        // Waiting for results is the Executor's business, with its own deadlines; one HTTP call should not hang for long.
        http.Timeout = TimeSpan.FromSeconds(100);
    }

    public Uri BaseAddress { get; }

    public Task<FunctionView> RegisterShellFunctionAsync(RegisterShellFunctionRequest request, CancellationToken cancellationToken = default) =>
        SendAsync<FunctionView>(HttpMethod.Post, "v1/functions", request, cancellationToken);

    public Task<FunctionView> RegisterShellFunctionAsync(
        string command, string? name = null, double? walltimeSeconds = null, CancellationToken cancellationToken = default) =>
        RegisterShellFunctionAsync(new RegisterShellFunctionRequest(command, name, walltimeSeconds), cancellationToken);

    public Task<FunctionView> RegisterPythonFunctionAsync(RegisterPythonFunctionRequest request, CancellationToken cancellationToken = default) =>
        SendAsync<FunctionView>(HttpMethod.Post, "v1/functions/python", request, cancellationToken);

    /// <summary>Registers a Python function made with <see cref="PythonFunction.FromSource"/>.</summary>
    public Task<FunctionView> RegisterFunctionAsync(PythonFunction function, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(function);
        return RegisterPythonFunctionAsync(function.ToRequest(), cancellationToken);
    }

    public Task<FunctionView> GetFunctionAsync(Guid functionId, CancellationToken cancellationToken = default) =>
        SendAsync<FunctionView>(HttpMethod.Get, $"v1/functions/{functionId}", body: null, cancellationToken);

    /// <summary>Submits tasks; a request without <see cref="SubmitRequest.UserRuntime"/> gets <see cref="ClientRuntime.Describe"/>.</summary>
    public Task<SubmitResponse> SubmitAsync(string endpointId, SubmitRequest request, CancellationToken cancellationToken = default) =>
        SendAsync<SubmitResponse>(
            HttpMethod.Post,
            $"v1/endpoints/{Segment(endpointId)}/submit",
            request.UserRuntime is null ? request with { UserRuntime = ClientRuntime.Describe() } : request,
            cancellationToken);

    public Task<TaskView> GetTaskAsync(Guid taskId, CancellationToken cancellationToken = default) =>
        SendAsync<TaskView>(HttpMethod.Get, $"v1/tasks/{taskId}", body: null, cancellationToken);

    public Task<TaskStatusResponse> GetTaskStatusAsync(IReadOnlyList<Guid> taskIds, CancellationToken cancellationToken = default) =>
        SendAsync<TaskStatusResponse>(HttpMethod.Post, "v1/tasks/status", new TaskStatusRequest(taskIds), cancellationToken);

    /// <summary>
    /// The finished tasks among <paramref name="taskIds"/> (and ids the server has no task of for you), waiting up to
    /// <paramref name="wait"/> on the server until there is at least one: a long poll. Pending tasks are left out.
    /// </summary>
    public Task<TaskStatusResponse> WaitForFinishedAsync(IReadOnlyList<Guid> taskIds, TimeSpan wait, CancellationToken cancellationToken = default) =>
        SendAsync<TaskStatusResponse>(HttpMethod.Post, "v1/tasks/status",
            new TaskStatusRequest(taskIds, FinishedOnly: true, WaitMs: (int)Math.Clamp(wait.TotalMilliseconds, 0, 30_000)), cancellationToken);

    public Task<EndpointView> GetEndpointAsync(string endpointId, CancellationToken cancellationToken = default) =>
        SendAsync<EndpointView>(HttpMethod.Get, $"v1/endpoints/{Segment(endpointId)}", body: null, cancellationToken);

    /// <summary>
    /// Stops one of your user endpoints (or, as an endpoint admin, anyone's): SIGTERM, SIGKILL after the endpoint's
    /// grace period. Answers at once with the state then (usually <c>stopping</c>); another user's id is a 404.
    /// </summary>
    public Task<UserEndpointView> StopUserEndpointAsync(string endpointId, string userEndpointId, CancellationToken cancellationToken = default) =>
        SendAsync<UserEndpointView>(
            HttpMethod.Post,
            $"v1/endpoints/{Segment(endpointId)}/user_endpoints/{Segment(userEndpointId)}/stop",
            body: null,
            cancellationToken);

    /// <summary>
    /// Every user endpoint of the endpoint, whoever owns it (endpoint admins only; others get a 403
    /// <see cref="MepApiException"/>), optionally only those of a local account or identity id, in a state
    /// (<c>running</c>, <c>stopped</c>, …) or on a login node.
    /// </summary>
    public Task<AdminUserEndpointList> ListUserEndpointsAsync(
        string endpointId, string? user = null, string? state = null, string? node = null, CancellationToken cancellationToken = default)
    {
        return SendAsync<AdminUserEndpointList>(
            HttpMethod.Get,
            $"v1/admin/endpoints/{Segment(endpointId)}/user_endpoints" + QueryString([("user", user), ("state", state), ("node", node)]),
            body: null,
            cancellationToken);
    }

    /// <summary>How the endpoint's mapping treats a federated identity and that identity's user endpoints (endpoint
    /// admins only; others get a 403 <see cref="MepApiException"/>).</summary>
    public Task<AdminUserView> ExplainUserAsync(string endpointId, string identityUsername, CancellationToken cancellationToken = default) =>
        SendAsync<AdminUserView>(
            HttpMethod.Get,
            $"v1/admin/endpoints/{Segment(endpointId)}/users/{Segment(identityUsername)}",
            body: null,
            cancellationToken);

    /// <summary>An endpoint's audit entries from every login node, filtered (endpoint admins only; others get a 403
    /// <see cref="MepApiException"/>). Null arguments do not filter; <paramref name="limit"/> keeps the newest.</summary>
    public Task<AdminAuditList> QueryAuditAsync(
        string endpointId, string? user = null, DateTimeOffset? since = null, DateTimeOffset? until = null, string? userEndpointId = null,
        Guid? taskId = null, IEnumerable<string>? actions = null, int? limit = null, CancellationToken cancellationToken = default)
    {
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        (string, string?)[] query =
        [
            ("user", user), ("since", since?.ToString("O", invariant)), ("until", until?.ToString("O", invariant)), ("uep", userEndpointId),
            ("task", taskId?.ToString()), ("limit", limit?.ToString(invariant)), .. (actions ?? []).Select(a => ("action", (string?)a)),
        ];
        return SendAsync<AdminAuditList>(
            HttpMethod.Get,
            $"v1/admin/endpoints/{Segment(endpointId)}/audit" + QueryString(query),
            body: null,
            cancellationToken);
    }

    /// <summary>The login nodes: live, drained (site admins only).</summary>
    public Task<AdminNodeList> ListNodesAsync(CancellationToken cancellationToken = default) =>
        SendAsync<AdminNodeList>(HttpMethod.Get, "v1/admin/nodes", body: null, cancellationToken);

    /// <summary>Drains a login node (no new user endpoint processes there; running ones finish), or returns it to
    /// service (site admins only).</summary>
    public Task<AdminNodeView> SetNodeDrainedAsync(string node, bool drained, CancellationToken cancellationToken = default) =>
        SendAsync<AdminNodeView>(HttpMethod.Post, $"v1/admin/nodes/{Segment(node)}/{(drained ? "drain" : "undrain")}", body: null, cancellationToken);

    public void Dispose() => http.Dispose();

    /// <summary>"?a=1&amp;b=2" of the pairs that have a value; "" when none has.</summary>
    private static string QueryString(IEnumerable<(string Name, string? Value)> pairs)
    {
        var query = string.Join('&', pairs.Where(q => !string.IsNullOrEmpty(q.Value)).Select(q => $"{q.Name}={Uri.EscapeDataString(q.Value!)}"));
        return query.Length > 0 ? "?" + query : "";
    }

    private static string Segment(string endpointId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(endpointId);
        return Uri.EscapeDataString(endpointId);
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken cancellationToken)
    {
        // HTTP/2 where the server offers it (the silo does, over TLS): an executor cuts its long poll short whenever it
        // submits more, and cancelling an HTTP/1.1 request closes its connection, so every cut cost a new connection
        // and TLS handshake (~4 % of the silo's CPU in a throughput run). On HTTP/2 a cut resets one stream.
        using var request = new HttpRequestMessage(method, path)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
        if (body is not null)
        {
            var json = JsonSerializer.SerializeToUtf8Bytes(body, body.GetType(), ProtocolJson.Options);
            request.Content = new ByteArrayContent(json);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        }

        using var response = await TransmitAsync(request, cancellationToken).ConfigureAwait(false);
        var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            var retryAfter = response.Headers.RetryAfter is { } r
                ? r.Delta ?? (r.Date is { } at ? at - DateTimeOffset.UtcNow : null)
                : null;
            throw new MepApiException(ProblemFrom(response, bytes), retryAfter);
        }

        try
        {
            return JsonSerializer.Deserialize<T>(bytes, ReadOptions)
                ?? throw new JsonException("the body is JSON null");
        }
        catch (JsonException e)
        {
            // A 2xx with a body we cannot read is the server's fault; report it like any other API error.
            throw new MepApiException(new Problem(
                "about:blank", "Unreadable response", (int)response.StatusCode,
                $"{method} {path} answered {(int)response.StatusCode} with a body that is not a {typeof(T).Name}: {e.Message}"));
        }
    }

    private async Task<HttpResponseMessage> TransmitAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        try
        {
            return await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (MepTls.Explain(e, BaseAddress) is { } clear)
        {
            throw clear;
        }
    }

    /// <summary>The problem document if the body is one; otherwise a problem made from what the response does say.</summary>
    internal static Problem ProblemFrom(HttpResponseMessage response, byte[] body)
    {
        var status = (int)response.StatusCode;
        var reason = response.ReasonPhrase is { Length: > 0 } r ? r : response.StatusCode.ToString();
        try
        {
            if (body.Length > 0 && JsonNode.Parse(body) is JsonObject o)
            {
                var title = Text(o, "title");
                var detail = Text(o, "detail");
                if (title is not null || detail is not null)
                {
                    return new Problem(
                        Text(o, "type") ?? "about:blank",
                        title ?? reason,
                        o["status"] is JsonValue v && v.TryGetValue<int>(out var s) ? s : status,
                        detail ?? title ?? reason,
                        Text(o, "instance"));
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON: fall through to the status line.
        }

        return new Problem("about:blank", reason, status, DetailWithoutBody(response, body, reason));
    }

    private static string? Text(JsonObject o, string name) =>
        o[name] is JsonValue v && v.TryGetValue<string>(out var s) && !string.IsNullOrWhiteSpace(s) ? s : null;

    private static string DetailWithoutBody(HttpResponseMessage response, byte[] body, string reason)
    {
        // JWT bearer rejections carry their cause in WWW-Authenticate (error_description="The token expired at ...").
        if (response.StatusCode == HttpStatusCode.Unauthorized)
        {
            var challenge = string.Join(", ", response.Headers.WwwAuthenticate.Select(h => h.Parameter).Where(p => p is not null));
            return challenge.Length > 0 ? $"unauthorized: {challenge}" : "unauthorized: the server did not accept the bearer token";
        }

        var text = body.Length > 0 ? Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 200)).ReplaceLineEndings(" ").Trim() : "";
        return text.Length > 0 ? $"{reason}: {text}" : reason;
    }
}
