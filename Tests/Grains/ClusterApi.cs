using Mep.Grains;
using Mep.Grains.Tasks;
using Orleans.TestingHost;
using Mep.Silo.Api;
using Mep.Silo.Auth;
using Mep.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Mep.Tests.Grains;

/// <summary>
/// The silo's REST API (the same routes, middleware and bearer authentication as <c>mep-silo</c>) on loopback Kestrel,
/// in front of a grain test cluster: lets SDK and CLI tests reach grains whose user endpoint a test drives itself.
/// </summary>
internal sealed class ClusterApi : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ClusterApi(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    /// <summary>With a trailing slash, as clients resolve <c>v1/…</c> against it.</summary>
    public Uri BaseAddress { get; }

    /// <summary>The API in front of <paramref name="cluster"/>: grains through its client, the task store of its first silo
    /// (the silo's API reads it directly, and every silo's store is the same table).</summary>
    public static async Task<ClusterApi> StartAsync(InProcessTestCluster cluster, TestTokenIssuer tokens, string dir, Action<MepOptions>? configure = null)
    {
        IGrainFactory grains = cluster.Client;
        var jwks = Path.Combine(dir, "api-issuer.jwks.json");
        tokens.WriteJwks(jwks);
        var builder = LoopbackWebHost.CreateBuilder();
        builder.Configuration.AddInMemoryCollection(tokens.Configuration(jwks));
        builder.Services.AddSingleton(grains);
        builder.Services.AddSingleton(cluster.GetSiloServiceProvider().GetRequiredService<TaskStore>());
        builder.Services.Configure<MepOptions>(o => configure?.Invoke(o));
        builder.Services.AddMepTokenAuthentication(builder.Configuration.GetSection(TokenAuthOptions.Section));
        var app = builder.Build();
        app.UseMiddleware<ProblemMiddleware>();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapMepApi();
        await app.StartAsync();
        return new ClusterApi(app, new Uri(app.BoundAddress() + "/"));
    }

    /// <summary>Every route the API maps: its pattern and HTTP methods (for tests that must cover each one).</summary>
    public IReadOnlyList<(string Pattern, IReadOnlyList<string> Methods)> Routes() =>
        ((Microsoft.AspNetCore.Routing.IEndpointRouteBuilder)_app).DataSources
            .SelectMany(source => source.Endpoints)
            .OfType<Microsoft.AspNetCore.Routing.RouteEndpoint>()
            .Select(e => (e.RoutePattern.RawText ?? "",
                (IReadOnlyList<string>)(e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? ["GET"])))
            .ToList();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
