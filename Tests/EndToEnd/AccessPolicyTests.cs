using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Mep.Grains.UserConfig;
using Mep.Protocol;
using Mep.Protocol.Api;
using Mep.Protocol.Auth;
using Mep.Protocol.Messages;
using Mep.Tests.Infrastructure;
using Xunit;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.EndToEnd;

/// <summary>
/// Endpoint policies through the real site: each refusal is a 403 that says why, is audited, and leaves no trace
/// (no user endpoint, no task queue); an allowed caller's identities outside the allowed domains do not count.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class AccessPolicyTests(SiteFixture site)
{
    [Fact]
    public async Task A_caller_outside_the_allowed_domains_is_refused_and_nothing_starts()
    {
        using var outsider = site.ClientFor(site.OutsiderIdentity);
        var function = await SiteApi.RegisterAsync(outsider, "true");

        var detail = await RefusedAsync(outsider, SiteFixture.GuardedEndpointId, function);
        Assert.Equal($"none of your identities ({site.OutsiderIdentity}) is in a domain this endpoint allows (e2e.example.org)", detail);
        Assert.Equal(HttpStatusCode.Forbidden, (await outsider.GetAsync($"v1/endpoints/{SiteFixture.GuardedEndpointId}")).StatusCode);
        await AssertNothingStartedAsync(site.OutsiderIdentity, SiteFixture.GuardedEndpointId);
        await AssertAuditedAsync(site.OutsiderIdentity, SiteFixture.GuardedEndpointId, detail);
    }

    [Fact]
    public async Task A_stale_session_or_a_token_without_auth_time_is_told_to_sign_in_again()
    {
        var authTime = DateTimeOffset.UtcNow - SiteFixture.GuardedSessionMaxAge - TimeSpan.FromMinutes(5);
        using var stale = site.ClientFor(site.AliceIdentity, new TestToken { AuthTime = authTime });
        var function = await SiteApi.RegisterAsync(stale, "true");

        var detail = await RefusedAsync(stale, SiteFixture.GuardedEndpointId, function);
        Assert.StartsWith("your last authentication (", detail);
        Assert.EndsWith("is older than this endpoint's session limit of 1h: sign in again", detail);

        using var noAuthTime = site.ClientFor(site.AliceIdentity, new TestToken { IncludeAuthTime = false });
        Assert.Contains("no auth_time", await RefusedAsync(noAuthTime, SiteFixture.GuardedEndpointId, function));

        // The same user, signed in just now, may describe the endpoint: and has no user endpoint there.
        using var fresh = site.ClientFor(site.AliceIdentity);
        var view = await SiteApi.GetAsync<EndpointView>(fresh, $"v1/endpoints/{SiteFixture.GuardedEndpointId}");
        Assert.Equal(site.Alice.Name, view.LocalUsername);
        Assert.Empty(view.UserEndpoints);
        await AssertNothingStartedAsync(site.AliceIdentity, SiteFixture.GuardedEndpointId);
        await AssertAuditedAsync(site.AliceIdentity, SiteFixture.GuardedEndpointId, detail);
    }

    [Fact]
    public async Task A_denied_user_is_refused_though_the_mapping_knows_them()
    {
        using var bob = site.ClientFor(site.BobIdentity);
        var function = await SiteApi.RegisterAsync(bob, "true");

        var detail = await RefusedAsync(bob, SiteFixture.GuardedEndpointId, function);
        Assert.Equal($"identity {site.BobIdentity} is denied access to this endpoint", detail);
        await AssertNothingStartedAsync(site.BobIdentity, SiteFixture.GuardedEndpointId);
        await AssertAuditedAsync(site.BobIdentity, SiteFixture.GuardedEndpointId, detail);
    }

    [Fact]
    public async Task A_function_the_endpoint_does_not_allow_is_refused_before_anything_is_queued()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var function = await SiteApi.RegisterAsync(alice, "true");

        var detail = await RefusedAsync(alice, SiteFixture.OneFunctionEndpointId, function);
        Assert.Equal($"function {function} is not allowed on endpoint {SiteFixture.OneFunctionEndpointId}", detail);
        // A function that does not exist at all is refused the same way: the endpoint does not reveal what exists.
        var unknown = Guid.NewGuid();
        Assert.Equal($"function {unknown} is not allowed on endpoint {SiteFixture.OneFunctionEndpointId}",
            await RefusedAsync(alice, SiteFixture.OneFunctionEndpointId, unknown));

        Assert.Empty((await SiteApi.GetAsync<EndpointView>(alice, $"v1/endpoints/{SiteFixture.OneFunctionEndpointId}")).UserEndpoints);
        await AssertNothingStartedAsync(site.AliceIdentity, SiteFixture.OneFunctionEndpointId);
        await AssertAuditedAsync(site.AliceIdentity, SiteFixture.OneFunctionEndpointId, detail);
    }

    [Fact]
    public async Task Only_linked_identities_in_the_allowed_domains_are_offered_to_the_mapping()
    {
        // Eve (in the domain, but unmapped) signed in, with the outsider's and Alice's identities linked, the outsider
        // first. The mapping's first rule maps the outsider to Bob's account; the policy must drop that identity, so
        // Alice's rule decides and the task runs as Alice.
        var eveId = MepClaims.IdentityIdFor(site.EveIdentity).ToString();
        var token = new TestToken
        {
            IdentitySet =
            [
                new Dictionary<string, object?> { ["sub"] = MepClaims.IdentityIdFor(site.OutsiderIdentity).ToString(), ["username"] = site.OutsiderIdentity },
                new Dictionary<string, object?> { ["sub"] = eveId, ["username"] = site.EveIdentity, ["status"] = "used" },
                new Dictionary<string, object?> { ["sub"] = MepClaims.IdentityIdFor(site.AliceIdentity).ToString(), ["username"] = site.AliceIdentity },
            ],
        };
        using var linked = site.ClientFor(site.EveIdentity, token);
        var function = await SiteApi.RegisterAsync(linked, "id -un");
        var receipt = await SiteApi.SubmitAsync(linked, function, 1, SiteFixture.GuardedEndpointId);

        var done = await SiteApi.WaitForResultAsync(site, linked, receipt.TaskIds[0]);
        Assert.Equal(ApiTaskStatus.Success, done.Status);
        Assert.Equal(site.Alice.Name, done.Result!.Stdout.Trim());

        var allowed = (await AuditEntriesAsync()).Last(e =>
            (string?)e["identity_id"] == eveId && (string?)e["action"] == "submit" && (string?)e["decision"] == "allowed");
        Assert.Equal(site.Alice.Name, (string?)allowed["local_user"]);
        Assert.Equal(MepClaims.IdentityIdFor(site.AliceIdentity).ToString(), (string?)allowed["matched_identity"]);
        Assert.Equal("document[0].rule[1]", (string?)allowed["mapping_rule"]);
        Assert.Equal(receipt.UserEndpointId, (string?)allowed["user_endpoint_id"]);
    }

    /// <summary>Submits one task and expects a 403 problem; returns its detail.</summary>
    private static async Task<string> RefusedAsync(HttpClient client, string endpointId, Guid function)
    {
        var response = await client.PostAsJsonAsync($"v1/endpoints/{endpointId}/submit",
            new SubmitRequest([new TaskSubmission(function)]), ProtocolJson.Options);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"expected 403, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return System.Text.Json.JsonSerializer.Deserialize<Problem>(body, ProtocolJson.Options)!.Detail;
    }

    /// <summary>The user endpoint this caller would have got (no config) has no task queue on the broker.</summary>
    private async Task AssertNothingStartedAsync(string identity, string endpointId)
    {
        var uepId = UserEndpointId.Derive(endpointId, MepClaims.IdentityIdFor(identity).ToString(), CanonicalJson.Write(new JsonObject()));
        using var http = site.Broker.ManagementClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{site.Broker.AdminUser}:{site.Broker.AdminPassword}")));
        var vhost = Uri.EscapeDataString(site.BrokerOptions().VirtualHost);
        var queue = await http.GetAsync($"api/queues/{vhost}/{Uri.EscapeDataString(BrokerNames.TaskQueue(uepId))}");
        Assert.Equal(HttpStatusCode.NotFound, queue.StatusCode);
    }

    private async Task AssertAuditedAsync(string identity, string endpointId, string reason)
    {
        var entry = (await AuditEntriesAsync()).Last(e =>
            (string?)e["username"] == identity && (string?)e["endpoint_id"] == endpointId && (string?)e["action"] == "submit"
            && (string?)e["reason"] == reason);
        Assert.Equal("refused", (string?)entry["decision"]);
        Assert.Equal(403, (int)entry["status"]!);
        Assert.False(entry.ContainsKey("user_endpoint_id"));
    }

    /// <summary>The audit log as written so far (each decision is in it before the caller gets the answer).</summary>
    private async Task<List<JsonObject>> AuditEntriesAsync() =>
        (await File.ReadAllLinesAsync(site.AuditLog)).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
}
