using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Mep.Contracts.Model;
using Mep.Protocol;
using Mep.Protocol.Api;
using Mep.Protocol.Messages;
using Mep.Sdk;
using Mep.Tests.EndToEnd;
using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.Grains;

/// <summary>
/// The limits on starting user endpoints, through the real API (429, RFC 7807 body, Retry-After), with the real
/// launcher starting stand-in UEPs that never report in unless the test says so.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class StartLimitTests(SiteFixture site) : LifecycleTest(site)
{
    [Fact]
    public async Task Live_user_endpoints_per_account_are_limited_until_one_stops()
    {
        var lifecycle = Lifecycle = await StartAsync("max_user_endpoints_per_user: 2");
        var a = await lifecycle.SubmitAsync("alice", config: """{"label":"a"}""");
        await lifecycle.SubmitAsync("alice", config: """{"label":"b"}""");

        // The third: 429 as problem+json, with Retry-After (the endpoint's idle timeout, 5 min).
        var (response, problem) = await SubmitRawAsync("alice", """{"label":"c"}""");
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(TimeSpan.FromMinutes(5), response.Headers.RetryAfter?.Delta);
        Assert.Equal(429, problem.Status);
        Assert.Equal($"local account {Site.Alice.Name} has 2 live user endpoints on endpoint {lifecycle.EndpointId}, the most it may have (max_user_endpoints_per_user): stop one, or wait until one goes idle", problem.Detail);

        // More work for a live one is never refused; another account has its own count.
        Assert.Equal(a.UserEndpointId, (await lifecycle.SubmitAsync("alice", config: """{"label":"a"}""")).UserEndpointId);
        await lifecycle.SubmitAsync("bob", config: """{"label":"c"}""");

        // The SDK hands over the wait; once one of the two is stopped, the third may start.
        using var alice = lifecycle.Client("alice");
        var refused = await Assert.ThrowsAsync<MepApiException>(() => lifecycle.SubmitAsync("alice", config: """{"label":"c"}"""));
        Assert.Equal((429, (TimeSpan?)TimeSpan.FromMinutes(5)), (refused.Status, refused.RetryAfter));
        await alice.StopUserEndpointAsync(lifecycle.EndpointId, a.UserEndpointId);
        var third = await Poll.Until(
            async () =>
            {
                try
                {
                    return await lifecycle.SubmitAsync("alice", config: """{"label":"c"}""");
                }
                catch (MepApiException e) when (e.Status == 429)
                {
                    return null;
                }
            },
            TimeSpan.FromSeconds(30),
            () => "the third user endpoint was still refused after the first stopped");
        Assert.NotEqual(a.UserEndpointId, third.UserEndpointId);

        // Refusals are audited like any other decision.
        Assert.Contains(lifecycle.AuditEntries(), e => e.GetProperty("action").GetString() == "submit"
            && e.GetProperty("status").GetInt32() == 429 && e.GetProperty("local_user").GetString() == Site.Alice.Name);
    }

    [Fact]
    public async Task Starts_per_minute_are_limited_and_retry_after_says_when_the_oldest_leaves_the_minute()
    {
        var lifecycle = Lifecycle = await StartAsync("max_starts_per_minute: 2");
        await lifecycle.SubmitAsync("alice", config: """{"label":"a"}""");
        await lifecycle.SubmitAsync("alice", config: """{"label":"b"}""");

        var refused = await Assert.ThrowsAsync<MepApiException>(() => lifecycle.SubmitAsync("alice", config: """{"label":"c"}"""));
        Assert.Equal(429, refused.Status);
        Assert.Contains("has started 2 user endpoints", refused.Detail);
        Assert.Contains("max_starts_per_minute", refused.Detail);
        // Whole seconds, rounded up: at most the minute itself.
        Assert.InRange(refused.RetryAfter!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1));
        await lifecycle.SubmitAsync("bob", config: """{"label":"c"}""");
    }

    [Fact]
    public async Task Concurrent_starts_on_a_node_are_limited_until_a_starting_user_endpoint_reports_in()
    {
        var lifecycle = Lifecycle = await StartAsync("max_concurrent_starts: 1");
        var a = await lifecycle.SubmitAsync("alice", config: """{"label":"a"}""");
        await using var standIn = await lifecycle.StandInAsync(a.UserEndpointId);

        // A is launched and has not reported in: the node's one start slot is taken, for everyone.
        var refused = await Assert.ThrowsAsync<MepApiException>(() => lifecycle.SubmitAsync("bob", config: """{"label":"b"}"""));
        Assert.Equal((429, (TimeSpan?)TimeSpan.FromSeconds(5)), (refused.Status, refused.RetryAfter));
        Assert.Equal("the node is starting 1 user endpoints at once, the most it may (max_concurrent_starts)", refused.Detail);

        await standIn.PublishAsync(new EndpointEvent(EndpointEventKind.Started, a.UserEndpointId, DateTimeOffset.UtcNow));
        await Poll.UntilTrue(async () => (await lifecycle.Uep(a.UserEndpointId).GetSnapshot()).Phase == UserEndpointPhase.Running,
            TimeSpan.FromSeconds(30), () => "user endpoint A never reported in");
        var b = await lifecycle.SubmitAsync("bob", config: """{"label":"b"}""");
        Assert.NotEqual(a.UserEndpointId, b.UserEndpointId);
    }

    private Task<LifecycleSite> StartAsync(string limits) =>
        LifecycleSite.StartAsync(Site, new Dictionary<string, string> { ["alice"] = Site.Alice.Name, ["bob"] = Site.Bob.Name }, extraConfig: limits);

    /// <summary>A submit as plain HTTP, to see the answer's headers as any client would.</summary>
    private async Task<(HttpResponseMessage Response, Problem Problem)> SubmitRawAsync(string who, string config)
    {
        using var client = Lifecycle!.Client(who);
        var function = await client.RegisterShellFunctionAsync("true");
        using var http = new HttpClient { BaseAddress = Lifecycle.Api.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Site.Tokens.Issue(Lifecycle.Identity(who)));
        var response = await http.PostAsJsonAsync($"v1/endpoints/{Lifecycle.EndpointId}/submit",
            new SubmitRequest([new TaskSubmission(function.FunctionId)], JsonNode.Parse(config)!.AsObject()), ProtocolJson.Options);
        var problem = ProtocolJson.Deserialize<Problem>(await response.Content.ReadAsStringAsync());
        return (response, problem);
    }
}
