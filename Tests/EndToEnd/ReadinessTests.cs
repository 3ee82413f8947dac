using System.Net;
using System.Text.Json;
using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.EndToEnd;

/// <summary>
/// <c>/readyz</c> on the real silo: ready when its database, broker, launcher and cluster membership all answer, and
/// not ready, naming the launcher, while the launcher is down; <c>/healthz</c> stays up throughout (the process lives).
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class ReadinessTests(SiteFixture site)
{
    private static readonly string[] Checks = ["membership", "database", "broker", "launcher", "configuration"];

    [Fact]
    public async Task The_silo_is_ready_when_every_dependency_answers_and_names_the_launcher_when_it_is_gone()
    {
        using var http = site.Tls.Client(site.ApiBase);

        var (status, report) = await ReadyAsync(http);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("ready", report.GetProperty("status").GetString());
        foreach (var check in Checks)
        {
            Assert.Equal("ready", report.GetProperty("checks").GetProperty(check).GetProperty("status").GetString());
        }

        await site.KillLauncherAsync();
        try
        {
            var down = (await Poll.Until(
                async () => await ReadyAsync(http) is { Status: HttpStatusCode.ServiceUnavailable } r ? Tuple.Create(r.Report) : null,
                TimeSpan.FromSeconds(30),
                () => "/readyz stayed ready without a launcher")).Item1;
            Assert.Equal("not ready", down.GetProperty("status").GetString());
            var launcher = down.GetProperty("checks").GetProperty("launcher");
            Assert.Equal("not ready", launcher.GetProperty("status").GetString());
            Assert.Contains(site.LauncherSocket, launcher.GetProperty("detail").GetString(), StringComparison.Ordinal);
            foreach (var check in Checks.Where(c => c != "launcher"))
            {
                Assert.Equal("ready", down.GetProperty("checks").GetProperty(check).GetProperty("status").GetString());
            }

            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("healthz")).StatusCode);
        }
        finally
        {
            await site.StartLauncherAsync();
        }

        await Poll.UntilTrue(async () => (await ReadyAsync(http)).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(30),
            () => "/readyz did not recover after the launcher restarted");
    }

    private static async Task<(HttpStatusCode Status, JsonElement Report)> ReadyAsync(HttpClient http)
    {
        using var response = await http.GetAsync("readyz");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, document.RootElement.Clone());
    }
}
