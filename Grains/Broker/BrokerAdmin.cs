using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Mep.Protocol.Messages;
using Microsoft.Extensions.Options;

namespace Mep.Grains.Broker;

/// <summary>
/// Creates MEP's broker objects and per-UEP users through the RabbitMQ management HTTP API, as the admin user.
/// Every call is idempotent, so the silo can repeat them at start and on every UEP start.
/// </summary>
public sealed class BrokerAdmin(HttpClient http, IOptions<BrokerOptions> options)
{
    private readonly BrokerOptions _options = options.Value;
    private readonly Lazy<AuthenticationHeaderValue> _auth = new(() => new AuthenticationHeaderValue("Basic",
        Convert.ToBase64String(Encoding.UTF8.GetBytes($"{options.Value.AdminUser}:{options.Value.ResolveAdminPassword()}"))));

    public string VirtualHost => _options.VirtualHost;

    /// <summary>Creates the virtual host and gives the admin user full rights in it.</summary>
    public async Task EnsureVirtualHostAsync(CancellationToken ct = default)
    {
        await SendAsync(HttpMethod.Put, $"vhosts/{Esc(VirtualHost)}", new JsonObject(), ct);
        await SetPermissionsAsync(_options.AdminUser, ".*", ".*", ".*", ct);
    }

    /// <summary>Reads MEP's virtual host: the management API is up and the admin user is accepted (for readiness).</summary>
    public Task PingAsync(CancellationToken ct = default) => SendAsync(HttpMethod.Get, $"vhosts/{Esc(VirtualHost)}", null, ct);

    /// <summary>The UEP's durable task queue <c>mep.uep.{id}.tasks</c>.</summary>
    public Task EnsureTaskQueueAsync(string uepId, CancellationToken ct = default) =>
        DeclareQueueAsync(BrokerNames.TaskQueue(UepIds.Check(uepId)), ct);

    public Task DeleteTaskQueueAsync(string uepId, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Delete, $"queues/{Esc(VirtualHost)}/{Esc(BrokerNames.TaskQueue(UepIds.Check(uepId)))}",
            null, ct, notFoundIsOk: true);

    /// <summary>
    /// The state the broker reports for the UEP's task queue: null when there is no such queue, "running" (or
    /// another state of a live queue process) when it works, and "down" or "" (no state at all) for a queue the broker
    /// lists but runs no process for. RabbitMQ 3.10 leaves a quorum queue so when the client that declared it goes
    /// away mid-declaration (the record is written, the Raft cluster never started); it never confirms a publish.
    /// </summary>
    /// <remarks>A new queue reports no state until the broker's first statistics round (5 s by default).</remarks>
    public async Task<string?> GetTaskQueueStateAsync(string uepId, CancellationToken ct = default)
    {
        var body = await SendAsync(HttpMethod.Get,
            $"queues/{Esc(VirtualHost)}/{Esc(BrokerNames.TaskQueue(UepIds.Check(uepId)))}", null, ct, notFoundIsOk: true);
        return body is null ? null : JsonNode.Parse(body)?["state"]?.GetValue<string>() ?? "";
    }

    /// <summary>
    /// Creates (or overwrites, with a fresh password) the broker user <c>uep-{id}</c>. It has no tags, so no
    /// management access; it may consume only its task queue and publish only to <c>mep.events</c> with its own
    /// routing key (<see cref="BrokerOptions.EventsRoutingKey"/>); it may declare, delete or bind nothing.
    /// </summary>
    /// <remarks>
    /// A new password does not close connections made with the old one; <see cref="DeleteUepUserAsync"/> does.
    /// </remarks>
    public async Task<BrokerCredentials> MintUepCredentialsAsync(string uepId, CancellationToken ct = default)
    {
        UepIds.Check(uepId);
        var user = BrokerNames.UepUser(uepId);
        var password = NewPassword();
        await SendAsync(HttpMethod.Put, $"users/{Esc(user)}", new JsonObject { ["password"] = password, ["tags"] = "" }, ct);
        // write: basic.publish needs write on the exchange, and nothing else may be written (not amq.default, which
        // would let it publish to any queue by name). read: basic.consume needs read on the queue.
        // The two permission sets are independent once the user exists: both requests at once (a cold start waits for them).
        var permissions = SetPermissionsAsync(user,
            configure: "^$",
            write: $"^{Regex.Escape(BrokerNames.EventsExchange)}$",
            read: $"^{Regex.Escape(BrokerNames.TaskQueue(uepId))}$",
            ct);
        // Topic permissions check the routing key of every publish to the topic exchange: only its own.
        var topicPermissions = SendAsync(HttpMethod.Put, $"topic-permissions/{Esc(VirtualHost)}/{Esc(user)}", new JsonObject
        {
            ["exchange"] = BrokerNames.EventsExchange,
            ["write"] = $"^{Regex.Escape(_options.EventsRoutingKey(uepId))}$",
            ["read"] = "^$",
        }, ct);
        await Task.WhenAll(permissions, topicPermissions);
        return new BrokerCredentials(user, password);
    }

    /// <summary>Deletes the UEP's broker user; the broker closes its open connections.</summary>
    public Task DeleteUepUserAsync(string uepId, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Delete, $"users/{Esc(BrokerNames.UepUser(UepIds.Check(uepId)))}", null, ct, notFoundIsOk: true);

    private Task DeclareQueueAsync(string queue, CancellationToken ct) =>
        SendAsync(HttpMethod.Put, $"queues/{Esc(VirtualHost)}/{Esc(queue)}", new JsonObject
        {
            ["durable"] = true,
            ["auto_delete"] = false,
            ["arguments"] = new JsonObject { ["x-queue-type"] = _options.QueueTypeArgument },
        }, ct);

    private Task SetPermissionsAsync(string user, string configure, string write, string read, CancellationToken ct) =>
        SendAsync(HttpMethod.Put, $"permissions/{Esc(VirtualHost)}/{Esc(user)}",
            new JsonObject { ["configure"] = configure, ["write"] = write, ["read"] = read }, ct);

    /// <returns>The response body, or null for a 404 when <paramref name="notFoundIsOk"/>.</returns>
    private async Task<string?> SendAsync(HttpMethod method, string path, JsonObject? body, CancellationToken ct, bool notFoundIsOk = false)
    {
        using var request = new HttpRequestMessage(method, new Uri(_options.ManagementUri, path));
        request.Headers.Authorization = _auth.Value;
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, ct);
        }
        catch (HttpRequestException e)
        {
            throw new BrokerAdminException($"{method} {path}: management API at {_options.ManagementUri} unreachable: {e.Message}", null, e);
        }
        using (response)
        {
            if (response.IsSuccessStatusCode)
            {
                return await response.Content.ReadAsStringAsync(ct);
            }
            if (notFoundIsOk && response.StatusCode == HttpStatusCode.NotFound)
            {
                return null;
            }
            // The broker's error body names the cause (e.g. "inequivalent arg 'x-queue-type'"); it never echoes passwords.
            var reason = await response.Content.ReadAsStringAsync(ct);
            throw new BrokerAdminException(
                $"{method} {path}: broker answered {(int)response.StatusCode} {response.ReasonPhrase}: {reason}", response.StatusCode);
        }
    }

    // Each path segment is escaped on its own: names may hold characters with meaning in a URL ("/" as a vhost).
    private static string Esc(string segment) => Uri.EscapeDataString(segment);

    /// <summary>256 random bits, URL-safe base64: valid in AMQP URIs and HTTP Basic auth without quoting.</summary>
    private static string NewPassword() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
