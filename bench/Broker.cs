using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Mep.Protocol.Tls;
using RabbitMQ.Client;

namespace Mep.Bench;

/// <summary>
/// Where a broker is and whom to log in as: AMQP and the management API of one node; with <see cref="CaFile"/>, AMQPS
/// and https verified against that CA (a MEP site's broker), without, plain (bench-streams' throwaway loopback node).
/// </summary>
internal sealed record BrokerAccess(string Host, int AmqpPort, int ManagementPort, string User, string Password, string? CaFile = null)
{
    public SslOption Ssl() => new()
    {
        Enabled = CaFile is not null,
        ServerName = Host,
        CertificateValidationCallback = new ServerCertificateCheck(CaFile is null ? null : PrivateTrust.Load(CaFile, "broker CA file")).Validate,
    };
}

/// <summary>
/// The broker under test: AMQP connections to the benchmark's virtual host, and that host's creation (with full
/// permissions for the bench user) and deletion through the management API.
/// </summary>
internal sealed class Broker(BrokerAccess settings, string virtualHost) : IDisposable
{
    private readonly HttpClient _http = CreateHttp(settings);

    public string VirtualHost => virtualHost;

    public Task<IConnection> ConnectAsync(string name, CancellationToken ct = default) => new ConnectionFactory
    {
        HostName = settings.Host,
        Port = settings.AmqpPort,
        VirtualHost = virtualHost,
        UserName = settings.User,
        Password = settings.Password,
        ClientProvidedName = name,
        Ssl = settings.Ssl(),
    }.CreateConnectionAsync(ct);

    /// <summary>Creates the virtual host if needed; true if this call created it (so the run should delete it).</summary>
    public async Task<bool> EnsureVirtualHostAsync(CancellationToken ct)
    {
        var vhost = Uri.EscapeDataString(virtualHost);
        using var created = await _http.PutAsJsonAsync($"api/vhosts/{vhost}", new { description = "mep-bench" }, ct);
        await EnsureSuccess(created, "create virtual host", ct);
        using var granted = await _http.PutAsJsonAsync($"api/permissions/{vhost}/{Uri.EscapeDataString(settings.User)}",
            new { configure = ".*", write = ".*", read = ".*" }, ct);
        await EnsureSuccess(granted, "grant permissions on the virtual host", ct);
        return created.StatusCode == HttpStatusCode.Created;
    }

    public async Task DeleteVirtualHostAsync(CancellationToken ct)
    {
        using var response = await _http.DeleteAsync($"api/vhosts/{Uri.EscapeDataString(virtualHost)}", ct);
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            await EnsureSuccess(response, "delete virtual host", ct);
        }
    }

    private async Task EnsureSuccess(HttpResponseMessage response, string what, CancellationToken ct)
    {
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(ct);
            throw new InvalidOperationException(
                $"management API at {_http.BaseAddress}: {what} '{virtualHost}' failed: {(int)response.StatusCode} {body.Trim()}");
        }
    }

    private static HttpClient CreateHttp(BrokerAccess settings)
    {
        var scheme = settings.CaFile is null ? "http" : "https";
        var trust = settings.CaFile is null ? null : PrivateTrust.Load(settings.CaFile, "broker CA file");
        var http = new HttpClient(PrivateTrust.HttpHandler(trust))
        {
            BaseAddress = new Uri($"{scheme}://{settings.Host}:{settings.ManagementPort}/"),
            Timeout = TimeSpan.FromSeconds(30),
        };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{settings.User}:{settings.Password}")));
        return http;
    }

    public void Dispose() => _http.Dispose();
}
