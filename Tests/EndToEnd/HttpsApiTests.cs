using System.Net;
using System.Security.Authentication;
using Mep.Sdk;
using Xunit;

namespace Mep.Tests.EndToEnd;

/// <summary>
/// The site's API as run.sh serves it: https only, with a server certificate from the site's private CA. A client
/// that does not trust that CA gets no answer, and says why.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class HttpsApiTests(SiteFixture site)
{
    [Fact]
    public async Task A_client_trusting_the_sites_CA_is_served_by_address_and_by_the_name_localhost()
    {
        using var byAddress = site.Tls.Client(site.ApiBase);
        using var byName = site.Tls.Client(new Uri($"https://localhost:{site.ApiPort}/"));

        Assert.Equal(HttpStatusCode.OK, (await byAddress.GetAsync("healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await byName.GetAsync("healthz")).StatusCode);
    }

    [Fact]
    public async Task A_client_with_only_the_systems_trust_store_is_refused()
    {
        using var plain = new HttpClient { BaseAddress = site.ApiBase };
        using var systemTrust = MepTls.CreateHandler(caFile: null);
        using var sdk = new MepClient(site.ApiBase, site.TokenFor(site.AliceIdentity), systemTrust);

        var raw = await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetAsync("healthz"));
        var explained = await Assert.ThrowsAsync<HttpRequestException>(() => sdk.GetEndpointAsync(SiteFixture.EndpointId));

        Assert.IsType<AuthenticationException>(raw.InnerException);
        Assert.Contains("set MEP_CA_FILE", explained.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plain_http_gets_no_answer_on_the_api_port()
    {
        using var plain = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{site.ApiPort}/"), Timeout = TimeSpan.FromSeconds(30) };

        var response = await Record.ExceptionAsync(async () => (await plain.GetAsync("healthz")).EnsureSuccessStatusCode());

        Assert.NotNull(response); // Kestrel answers a TLS port's plain request with 400 or drops it: never the health check
    }
}
