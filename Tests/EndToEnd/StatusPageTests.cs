using System.Net;
using System.Text.Json;
using Mep.Grains.Launching;
using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.EndToEnd;

/// <summary>
/// The status page and the Orleans dashboard of the real silo, in headless Chromium: nothing without a session; the
/// admin signs in on the page by pasting a token, as a person would; the page then shows the live UEP count that the
/// site's launcher reports, and the endpoints the admin administers; the dashboard opens for the signed-in site admin.
/// Screenshots go to the test artefacts (<see cref="HeadlessChromium.ArtifactsDirectory"/>).
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class StatusPageTests(SiteFixture site)
{
    [Fact]
    public async Task The_status_page_shows_the_live_user_endpoints_to_a_signed_in_admin_only()
    {
        // A live UEP: Alice's task ran, and her UEP stays up until its idle timeout.
        using var alice = site.ClientFor(site.AliceIdentity);
        var function = await SiteApi.RegisterAsync(alice, "true");
        await SiteApi.WaitForResultAsync(site, alice, (await SiteApi.SubmitAsync(alice, function, 1)).TaskIds[0]);

        // No session: the data, the dashboard and its API are refused; a non-admin gets no session.
        var baseUrl = site.ApiBase.AbsoluteUri.TrimEnd('/');
        using (var anonymous = site.Tls.Client(site.ApiBase))
        {
            foreach (var path in new[] { "/status/data", "/dashboard/", "/dashboard/index.html" })
            {
                using var refused = await anonymous.GetAsync(path);
                Assert.True(refused.StatusCode == HttpStatusCode.Unauthorized, $"{path}: {refused.StatusCode}");
            }

            using var signIn = await anonymous.GetAsync("/status");
            Assert.Contains("id=\"sign-in\"", await signIn.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            using var noBearer = await anonymous.PostAsync("/status/session", null);
            Assert.Equal(HttpStatusCode.Unauthorized, noBearer.StatusCode);
        }

        using (var refused = await alice.PostAsync($"{baseUrl}/status/session", null))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.False(refused.Headers.Contains("Set-Cookie"), "a non-admin was given a session cookie");
        }

        await using var chromium = await HeadlessChromium.StartAsync(site.Tls.CertificateFile);
        await chromium.NavigateAsync($"{baseUrl}/status");
        await Poll.UntilTrue(async () => await chromium.EvaluateAsync("document.getElementById('sign-in') !== null") is { } v && (bool)v,
            TimeSpan.FromSeconds(30), () => "the sign-in form never appeared");
        var token = JsonSerializer.Serialize(site.TokenFor(site.AdminIdentity));
        await chromium.EvaluateAsync($"document.getElementById('token').value = {token}; document.getElementById('sign-in').requestSubmit(); true");

        // The page refreshes itself; the launcher's own list is the truth it must show (other tests' UEPs included).
        var launcher = new LauncherClient(site.LauncherSocket);
        // Everything read from one rendering of the page (it reloads itself every 10 s).
        var snapshot = $$"""
            (() => {
              const total = document.getElementById('live-ueps-total');
              if (!total || document.readyState !== 'complete') return null;
              const row = document.querySelector('#endpoints tr[data-endpoint="{{SiteFixture.EndpointId}}"] td:nth-child(3)');
              return {
                total: total.textContent,
                endpoints: [...document.querySelectorAll('#endpoints tr[data-endpoint]')].map(r => r.dataset.endpoint),
                perMinute: row ? row.textContent : null,
                nodes: [...document.querySelectorAll('#nodes td.live')].map(c => c.textContent),
              };
            })()
            """;
        var page = await Poll.Until(
            async () =>
            {
                var shown = (await chromium.EvaluateAsync(snapshot))?.AsObject();
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                var live = (await launcher.ListAsync(timeout.Token)).Count;
                return shown is not null && int.Parse((string)shown["total"]!, System.Globalization.CultureInfo.InvariantCulture) == live && live >= 1 ? shown : null;
            },
            TimeSpan.FromSeconds(90),
            () => "the status page never showed the launcher's live UEP count");
        var screenshot = await chromium.ScreenshotAsync();
        var file = Path.Combine(HeadlessChromium.ArtifactsDirectory(), "status-page.png");
        await File.WriteAllBytesAsync(file, screenshot);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], screenshot[..4]);

        // A site admin sees every endpoint, with the task just submitted in the last minute's rate; node rows add up.
        var endpoints = page["endpoints"]!.AsArray().Select(e => (string)e!).ToList();
        Assert.Contains(SiteFixture.EndpointId, endpoints);
        Assert.Contains(SiteFixture.GuardedEndpointId, endpoints);
        var perMinute = (string?)page["perMinute"];
        Assert.True(double.Parse(perMinute!, System.Globalization.CultureInfo.InvariantCulture) >= 1, $"submitted per minute: {perMinute}");
        Assert.Equal((string)page["total"]!, string.Join(',', page["nodes"]!.AsArray().Select(n => (string)n!)));
        var data = await chromium.EvaluateAsync("fetch('/status/data').then(r => r.json())");
        Assert.True((int)data!["live_user_endpoints"]! >= 1, data.ToJsonString());
        Assert.Single(data["nodes"]!.AsArray());

        // The dashboard, for the same signed-in session (the admin is a site admin too).
        Assert.Equal(200, (int)(await chromium.EvaluateAsync("fetch('/dashboard/').then(r => r.status)"))!);
        await chromium.NavigateAsync($"{baseUrl}/dashboard/");
        // Rendered once its script has fetched the cluster's figures (through the same gate).
        await Poll.UntilTrue(
            async () => await chromium.EvaluateAsync("document.body?.innerText ?? ''") is { } text && !((string)text!).Contains("Loading", StringComparison.Ordinal)
                && ((string)text!).Contains("Silos", StringComparison.OrdinalIgnoreCase),
            TimeSpan.FromSeconds(60),
            () => "the dashboard never rendered its figures");
        await File.WriteAllBytesAsync(Path.Combine(HeadlessChromium.ArtifactsDirectory(), "orleans-dashboard.png"), await chromium.ScreenshotAsync());
    }

    [Fact]
    public async Task An_endpoint_admin_sees_only_their_endpoints_and_not_the_dashboard()
    {
        using var http = new HttpClient(site.Tls.Handler()) { BaseAddress = site.ApiBase };
        string sessionCookie;
        using (var signIn = new HttpRequestMessage(HttpMethod.Post, "/status/session"))
        {
            signIn.Headers.Authorization = new("Bearer", site.TokenFor(site.ConfiguredAdminIdentity));
            using var started = await http.SendAsync(signIn);
            Assert.Equal(HttpStatusCode.NoContent, started.StatusCode);
            var cookie = Assert.Single(started.Headers.GetValues("Set-Cookie"));
            sessionCookie = cookie.Split(';')[0];
            Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        }

        // Sign-ins are audited on the node, allowed or refused (Alice's, from the other test or this one's below).
        using (var alice = site.ClientFor(site.AliceIdentity))
        using (var refused = await alice.PostAsync("/status/session", null))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        var signIns = File.ReadAllLines(site.AuditLog).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("action").GetString() == "status-session")
            .Select(e => (e.GetProperty("username").GetString(), e.GetProperty("status").GetInt32())).ToList();
        Assert.Contains((site.ConfiguredAdminIdentity, 204), signIns);
        Assert.Contains((site.AliceIdentity, 403), signIns);

        using var data = JsonDocument.Parse(await http.GetStringAsync("/status/data"));
        Assert.Equal([SiteFixture.ConfiguredEndpointId],
            data.RootElement.GetProperty("endpoints").EnumerateArray().Select(e => e.GetProperty("endpoint_id").GetString()));
        Assert.False(data.RootElement.GetProperty("site_admin").GetBoolean());
        using (var dashboard = await http.GetAsync("/dashboard/"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, dashboard.StatusCode);
        }

        // The session cookie is no bearer token: the API still refuses it.
        using (var api = await http.GetAsync($"/v1/admin/endpoints/{SiteFixture.ConfiguredEndpointId}/user_endpoints"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);
        }

        // Signing out ends the session on the server, not just in this client: the old cookie, sent again, is refused.
        using (await http.PostAsync("/status/logout", null))
        {
        }

        using var replay = new HttpRequestMessage(HttpMethod.Get, "/status/data");
        replay.Headers.Add("Cookie", sessionCookie);
        using var bare = site.Tls.Client(site.ApiBase);
        using var after = await bare.SendAsync(replay);
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
    }
}
