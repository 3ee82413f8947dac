using Mep.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mep.Tests.Auth;

/// <summary>
/// A real OIDC discovery endpoint on loopback: <c>/.well-known/openid-configuration</c> naming this server as the
/// issuer and <c>/jwks</c> serving whatever <see cref="Jwks"/> holds. Under <c>/liar</c> it serves a discovery
/// document that names another issuer than its own address (the silo must refuse its keys).
/// </summary>
internal sealed class OidcTestServer : IAsyncDisposable
{
    private readonly WebApplication app;
    private int jwksRequests;

    private OidcTestServer(WebApplication app) => this.app = app;

    /// <summary>The issuer (and authority): the server's base address without a trailing slash.</summary>
    public string Issuer { get; private set; } = "";

    public string LiarAuthority => Issuer + "/liar";

    public volatile string Jwks = """{"keys":[]}""";

    public int JwksRequests => Volatile.Read(ref jwksRequests);

    public static async Task<OidcTestServer> StartAsync()
    {
        var builder = LoopbackWebHost.CreateBuilder();
        var server = new OidcTestServer(builder.Build());
        server.app.MapGet("/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, string>
        {
            ["issuer"] = server.Issuer,
            ["jwks_uri"] = server.Issuer + "/jwks",
        }));
        server.app.MapGet("/liar/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, string>
        {
            ["issuer"] = server.Issuer, // not LiarAuthority
            ["jwks_uri"] = server.Issuer + "/jwks",
        }));
        server.app.MapGet("/jwks", () =>
        {
            Interlocked.Increment(ref server.jwksRequests);
            return Results.Text(server.Jwks, "application/json");
        });
        await server.app.StartAsync();
        server.Issuer = server.app.BoundAddress();
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
