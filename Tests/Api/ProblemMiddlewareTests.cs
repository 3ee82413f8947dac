using System.Net;
using Mep.Contracts.Model;
using Mep.Silo.Api;
using Mep.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace Mep.Tests.Api;

/// <summary>
/// What a client sees when a grain call fails because of the cluster rather than the request. The failures are thrown
/// by stand-in handlers (named fakes): the moment a node is dying but not yet declared dead cannot be hit on purpose in
/// a test. The multi-node tests exercise the real thing.
/// </summary>
public sealed class ProblemMiddlewareTests : IAsyncLifetime
{
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        var builder = LoopbackWebHost.CreateBuilder();
        _app = builder.Build();
        _app.UseMiddleware<ProblemMiddleware>();
        _app.MapGet("/silo-gone", () => Throw(new SiloUnavailableException("silo S127.0.0.1:11112:1 is dead")));
        _app.MapGet("/node-gone", () => Throw(new NodeUnavailableException("login node 'node2' has no active silo")));
        _app.MapGet("/wrapped", () => Throw(new AggregateException(new SiloUnavailableException())));
        _app.MapGet("/timeout", () => Throw(new TimeoutException("Response did not arrive on time")));
        _app.MapGet("/bug", () => Throw(new InvalidOperationException("secret internals")));
        await _app.StartAsync();
        _client = new HttpClient { BaseAddress = new Uri(_app.BoundAddress()) };
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _app.DisposeAsync();
    }

    [Theory]
    [InlineData("/silo-gone")]
    [InlineData("/node-gone")]
    [InlineData("/wrapped")]
    public async Task A_lost_node_is_a_503_with_retry_after(string path)
    {
        var response = await _client.GetAsync(path);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(Problems.ContentType, response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(TimeSpan.FromSeconds(5), response.Headers.RetryAfter?.Delta);
        Assert.Contains("retry", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_timeout_is_a_504_that_says_the_outcome_is_unknown()
    {
        var response = await _client.GetAsync("/timeout");
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Contains("may or may not have taken effect", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Anything_else_stays_a_500_without_internals()
    {
        var response = await _client.GetAsync("/bug");
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.DoesNotContain("secret", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Null(response.Headers.RetryAfter);
    }

    private static IResult Throw(Exception e) => throw e;
}
