using Mep.Protocol;
using Mep.Protocol.Api;
using Mep.Sdk;
using Mep.Tests.Cli;
using Mep.Tests.EndToEnd;
using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.Grains;

/// <summary>
/// The admin API and <c>mep admin user-endpoints</c> through the real API and CLI, with user endpoints started by a
/// real launcher as two users: the endpoint's admin sees both users' user endpoints and filters them; the users
/// themselves, admins of nothing, get 403 on the admin routes; the admin sees how one identity maps (or why not) and
/// its user endpoints; every request is in the audit log.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class AdminApiTests(SiteFixture site) : LifecycleTest(site)
{
    [Fact]
    public async Task A_user_who_is_no_admin_gets_403_on_every_admin_route_the_api_maps()
    {
        var lifecycle = Lifecycle = await LifecycleSite.StartAsync(Site,
            new Dictionary<string, string> { ["alice"] = Site.Alice.Name },
            extraConfig: "admins: [admin-{suffix}@lifecycle.test]");
        var alices = await lifecycle.SubmitAsync("alice");
        var values = new Dictionary<string, string>
        {
            ["endpointId"] = lifecycle.EndpointId,
            ["userEndpointId"] = alices.UserEndpointId,
            ["identityUsername"] = lifecycle.Identity("alice"),
            ["node"] = lifecycle.Cluster.Silos.Single().Name,
        };
        // Taken from the API's own route table, so a route added later is covered without touching this test.
        var adminRoutes = lifecycle.Api.Routes().Where(r => r.Pattern.StartsWith("/v1/admin/", StringComparison.Ordinal)).ToList();
        Assert.True(adminRoutes.Count >= 6, string.Join(", ", adminRoutes.Select(r => r.Pattern)));

        using var http = new HttpClient { BaseAddress = lifecycle.Api.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new("Bearer", Site.Tokens.Issue(lifecycle.Identity("alice")));
        foreach (var (pattern, methods) in adminRoutes)
        {
            var path = System.Text.RegularExpressions.Regex.Replace(pattern, @"\{(\w+)[^}]*\}",
                m => Uri.EscapeDataString(values.TryGetValue(m.Groups[1].Value, out var v) ? v : "x"));
            foreach (var method in methods)
            {
                using var request = new HttpRequestMessage(new HttpMethod(method), path.TrimStart('/'));
                if (method != "GET")
                {
                    request.Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json");
                }
                using var response = await http.SendAsync(request);
                Assert.True(response.StatusCode == System.Net.HttpStatusCode.Forbidden,
                    $"{method} {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
        }
        // Nothing was done on her behalf: her user endpoint still runs.
        Assert.NotEqual(Mep.Contracts.Model.UserEndpointPhase.Stopped, (await lifecycle.Uep(alices.UserEndpointId).GetSnapshot()).Phase);
    }

    [Fact]
    public async Task An_endpoint_admin_lists_every_users_user_endpoints_and_nobody_else_may()
    {
        var lifecycle = Lifecycle = await LifecycleSite.StartAsync(Site,
            new Dictionary<string, string> { ["alice"] = Site.Alice.Name, ["bob"] = Site.Bob.Name },
            extraConfig: "admins: [admin-{suffix}@lifecycle.test]");
        var alices = await lifecycle.SubmitAsync("alice");
        var bobs = await lifecycle.SubmitAsync("bob", tasks: 2);
        foreach (var uep in new[] { alices.UserEndpointId, bobs.UserEndpointId })
        {
            await Poll.UntilTrue(async () => (await lifecycle.Uep(uep).GetSnapshot()).Pid is not null, TimeSpan.FromMinutes(1),
                () => $"user endpoint {uep} never started");
        }

        using var admin = lifecycle.Client("admin");
        var all = await admin.ListUserEndpointsAsync(lifecycle.EndpointId);
        Assert.Equal(lifecycle.EndpointId, all.EndpointId);
        var node = lifecycle.Cluster.Silos.Single().Name;
        var byUser = all.UserEndpoints.ToDictionary(u => u.LocalUsername!);
        Assert.Equal(new HashSet<string> { Site.Alice.Name, Site.Bob.Name }, byUser.Keys.ToHashSet());
        Assert.Equal((alices.UserEndpointId, lifecycle.IdentityId("alice"), 1), (byUser[Site.Alice.Name].UserEndpointId, byUser[Site.Alice.Name].IdentityId, byUser[Site.Alice.Name].PendingTasks));
        Assert.Equal((bobs.UserEndpointId, lifecycle.IdentityId("bob"), 2), (byUser[Site.Bob.Name].UserEndpointId, byUser[Site.Bob.Name].IdentityId, byUser[Site.Bob.Name].PendingTasks));
        Assert.All(all.UserEndpoints, u =>
        {
            Assert.Equal("starting", u.State);
            Assert.Equal(node, u.Node);
            Assert.NotNull(u.Pid);
            Assert.NotNull(u.StartedAt);
            Assert.NotNull(u.LastTaskAt);
        });

        // Filters: by local account or identity id, by state, by node.
        Assert.Equal([bobs.UserEndpointId], (await admin.ListUserEndpointsAsync(lifecycle.EndpointId, user: Site.Bob.Name)).UserEndpoints.Select(u => u.UserEndpointId));
        Assert.Equal([alices.UserEndpointId], (await admin.ListUserEndpointsAsync(lifecycle.EndpointId, user: lifecycle.IdentityId("alice"))).UserEndpoints.Select(u => u.UserEndpointId));
        Assert.Empty((await admin.ListUserEndpointsAsync(lifecycle.EndpointId, state: "stopped")).UserEndpoints);
        Assert.Equal(2, (await admin.ListUserEndpointsAsync(lifecycle.EndpointId, state: "starting", node: node)).UserEndpoints.Count);
        Assert.Empty((await admin.ListUserEndpointsAsync(lifecycle.EndpointId, node: "no-such-node")).UserEndpoints);

        // A bad filter is a 400 naming the parameter.
        var bad = await Assert.ThrowsAsync<MepApiException>(() => admin.ListUserEndpointsAsync(lifecycle.EndpointId, state: "sleeping"));
        Assert.Equal(400, bad.Status);
        Assert.StartsWith("state: must be one of", bad.Detail, StringComparison.Ordinal);

        // Users who are not admins: 403, even for a user endpoint of their own.
        foreach (var who in new[] { "alice", "bob" })
        {
            using var user = lifecycle.Client(who);
            var refused = await Assert.ThrowsAsync<MepApiException>(() => user.ListUserEndpointsAsync(lifecycle.EndpointId));
            Assert.Equal(403, refused.Status);
            Assert.Contains("is not an admin", refused.Detail, StringComparison.Ordinal);
        }

        // One identity: the account its mapping chose and by which rule, and its user endpoints; an unmapped one says why.
        var bob = await admin.ExplainUserAsync(lifecycle.EndpointId, lifecycle.Identity("bob"));
        Assert.Equal((lifecycle.IdentityId("bob"), Site.Bob.Name, (string?)null), (bob.IdentityId, bob.LocalUsername, bob.Refusal));
        var chosen = Assert.Single(bob.Candidates);
        Assert.Equal(Site.Bob.Name, chosen.Username);
        Assert.Matches(@"^document\[0\]\.rule\[\d+\]$", chosen.Rule);
        Assert.Equal((bobs.UserEndpointId, 2), (Assert.Single(bob.UserEndpoints).UserEndpointId, bob.UserEndpoints[0].PendingTasks));
        var stranger = await admin.ExplainUserAsync(lifecycle.EndpointId, lifecycle.Identity("stranger"));
        Assert.Null(stranger.LocalUsername);
        Assert.Contains("does not map to a local account", stranger.Refusal, StringComparison.Ordinal);
        Assert.Empty(stranger.UserEndpoints);
        using (var alice = lifecycle.Client("alice"))
        {
            Assert.Equal(403, (await Assert.ThrowsAsync<MepApiException>(() => alice.ExplainUserAsync(lifecycle.EndpointId, lifecycle.Identity("bob")))).Status);
        }

        var explained = await CliRunner.RunAsync(lifecycle.CliEnvironment("admin"), "admin", "user", lifecycle.EndpointId, lifecycle.Identity("bob"));
        Assert.True(explained.ExitCode == 0, explained.ToString());
        Assert.Contains(Site.Bob.Name, explained.Stdout, StringComparison.Ordinal);
        Assert.Contains(bobs.UserEndpointId, explained.Stdout, StringComparison.Ordinal);

        // The CLI: a table for the admin, --json as the API has it, a one-line refusal for a user.
        var table = await CliRunner.RunAsync(lifecycle.CliEnvironment("admin"), "admin", "user-endpoints", lifecycle.EndpointId, "--user", Site.Bob.Name);
        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Contains(bobs.UserEndpointId, table.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(alices.UserEndpointId, table.Stdout, StringComparison.Ordinal);
        Assert.Contains("1 user endpoint(s)", table.Stdout, StringComparison.Ordinal);
        var json = await CliRunner.RunAsync(lifecycle.CliEnvironment("admin"), "admin", "user-endpoints", lifecycle.EndpointId, "--json");
        Assert.True(json.ExitCode == 0, json.ToString());
        Assert.Equal(2, ProtocolJson.Deserialize<AdminUserEndpointList>(json.Stdout).UserEndpoints.Count);
        var cliRefused = await CliRunner.RunAsync(lifecycle.CliEnvironment("alice"), "admin", "user-endpoints", lifecycle.EndpointId);
        Assert.NotEqual(0, cliRefused.ExitCode);
        Assert.Contains("is not an admin", Assert.Single(cliRefused.StderrLines), StringComparison.Ordinal);

        // Every admin request is audited, allowed or refused.
        var audited = lifecycle.AuditEntries().Where(e => e.GetProperty("action").GetString() == "admin-list")
            .Select(e => (e.GetProperty("username").GetString(), e.GetProperty("status").GetInt32()))
            .ToList();
        Assert.Contains((lifecycle.Identity("admin"), 200), audited);
        Assert.Contains((lifecycle.Identity("alice"), 403), audited);
        Assert.Contains((lifecycle.Identity("bob"), 403), audited);
        Assert.Contains(lifecycle.AuditEntries(), e => e.GetProperty("action").GetString() == "admin-user"
            && e.GetProperty("username").GetString() == lifecycle.Identity("alice") && e.GetProperty("status").GetInt32() == 403);
    }
}
