using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Mep.Contracts.Model;
using Mep.Silo.Api;
using Mep.Silo.Auth;
using Mep.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mep.Tests.Auth;

/// <summary>What the host answered to one request, and the caller the protected endpoint saw.</summary>
internal sealed record AuthAnswer(HttpStatusCode Status, string? Challenge, string? ContentType, string? Detail, CallerIdentity? Caller)
{
    public override string ToString() => $"{(int)Status} challenge={Challenge} detail={Detail}";
}

/// <summary>
/// A real Kestrel host on loopback with the silo's authentication (<see cref="TokenAuthentication"/>) and problem
/// middleware, one protected endpoint that reports the caller, and one anonymous endpoint.
/// </summary>
internal sealed class AuthHost : IAsyncDisposable
{
    private const string ProbeHeader = "X-Probe";
    private readonly WebApplication app;
    private readonly ConcurrentDictionary<string, CallerIdentity?> callers = new();
    private readonly HttpClient http = new();

    private AuthHost(WebApplication app) => this.app = app;

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Starts the host; the options validator runs here, so a bad configuration throws.</summary>
    public static async Task<AuthHost> StartAsync(IEnumerable<KeyValuePair<string, string?>> settings)
    {
        var builder = LoopbackWebHost.CreateBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddMepTokenAuthentication(builder.Configuration.GetSection(TokenAuthOptions.Section));
        var host = new AuthHost(builder.Build());
        host.app.UseMiddleware<ProblemMiddleware>();
        host.app.UseAuthentication();
        host.app.UseAuthorization();
        host.app.MapGet("/whoami", (HttpContext context) =>
        {
            host.callers[context.Request.Headers[ProbeHeader].ToString()] = TokenAuthentication.ToCaller(context.User);
            return Results.Ok();
        }).RequireAuthorization();
        host.app.MapGet("/open", () => "open");
        try
        {
            await host.app.StartAsync();
        }
        catch
        {
            await host.app.DisposeAsync();
            throw;
        }

        host.BaseAddress = new Uri(host.app.BoundAddress() + "/");
        return host;
    }

    /// <summary>GET the protected endpoint with <c>Authorization: Bearer token</c> (no header for null).</summary>
    public Task<AuthAnswer> WhoAmIAsync(string? token) => SendAsync("whoami", token is null ? null : new AuthenticationHeaderValue("Bearer", token));

    public async Task<AuthAnswer> SendAsync(string path, AuthenticationHeaderValue? authorization)
    {
        var probe = Guid.NewGuid().ToString();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(BaseAddress, path));
        request.Headers.Authorization = authorization;
        request.Headers.Add(ProbeHeader, probe);
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        string? detail = null;
        if (response.Content.Headers.ContentType?.MediaType == Problems.ContentType)
        {
            detail = JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString();
        }

        return new AuthAnswer(
            response.StatusCode,
            // As sent, not as HttpClient would re-format it.
            response.Headers.NonValidated.TryGetValues("WWW-Authenticate", out var challenges) ? string.Join(" | ", challenges) : null,
            response.Content.Headers.ContentType?.MediaType,
            detail,
            callers.TryRemove(probe, out var caller) ? caller : null);
    }

    public async ValueTask DisposeAsync()
    {
        http.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
