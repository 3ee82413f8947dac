using System.Net;
using System.Text.Json;
using Mep.Protocol;
using Mep.Protocol.Api;
using Mep.Sdk;
using Mep.Tests.Cli;
using Xunit;

namespace Mep.Tests.EndToEnd;

/// <summary>
/// The audit query of the admin API and <c>mep admin audit</c> against the real silo: a task run by Alice leaves its
/// entries in the silo's log; the endpoint's admin finds them through the API, filtered, with the node that holds
/// them; Alice, no admin, gets 403; bad parameters are problem+json naming the parameter.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class AdminAuditTests(SiteFixture site)
{
    [Fact]
    public async Task An_admin_queries_the_audit_log_of_a_run_and_nobody_else_may()
    {
        // The silo writes its audit times with this machine's clock: nothing of an earlier test's requests is later.
        var since = DateTimeOffset.UtcNow;
        using var alice = site.ClientFor(site.AliceIdentity);
        var function = await SiteApi.RegisterAsync(alice, "true");
        var receipt = await SiteApi.SubmitAsync(alice, function, 2);
        foreach (var id in receipt.TaskIds)
        {
            await SiteApi.WaitForResultAsync(site, alice, id);
        }

        using var admin = new MepClient(site.ApiBase, site.TokenFor(site.AdminIdentity), site.Tls.Handler());
        var all = await admin.QueryAuditAsync(SiteFixture.EndpointId, user: site.Alice.Name, since: since);
        var node = Assert.Single(all.NodesAnswered);
        Assert.Empty(all.NodesFailed);
        Assert.False(all.Truncated);
        Assert.All(all.Entries, e => Assert.Equal(node, e.Node));
        Assert.All(all.Entries, e => Assert.Equal(SiteFixture.EndpointId, (string?)e.Entry["endpoint_id"]));
        // An earlier test's task may still end after it: count this run's tasks only.
        var actions = all.Entries.Select(e => (string)e.Entry["action"]!).ToList();
        Assert.Contains("submit", actions);
        var runTasks = receipt.TaskIds.Select(t => t.ToString()).ToHashSet();
        var ofRun = all.Entries.Where(e => runTasks.Contains((string?)e.Entry["task_id"] ?? "")).Select(e => (string)e.Entry["action"]!).ToList();
        Assert.Equal(2, ofRun.Count(a => a == "task-received"));
        Assert.Equal(2, ofRun.Count(a => a == "task-ended"));
        Assert.Equal(all.Entries.OrderBy(e => DateTimeOffset.Parse((string)e.Entry["time"]!)).Select(e => e.Entry.ToJsonString()),
            all.Entries.Select(e => e.Entry.ToJsonString()));

        // Filters: one task's entries; actions; a window that ends before the run; the newest one only.
        var task = receipt.TaskIds[1];
        var mine = await admin.QueryAuditAsync(SiteFixture.EndpointId, taskId: task);
        Assert.Equal("task-received", (string?)mine.Entries[0].Entry["action"]);
        Assert.Equal("task-ended", (string?)mine.Entries[^1].Entry["action"]);
        Assert.All(mine.Entries, e => Assert.Equal(task.ToString(), (string?)e.Entry["task_id"]));
        var submits = await admin.QueryAuditAsync(SiteFixture.EndpointId, since: since, actions: ["submit"]);
        Assert.Equal(site.AliceIdentity, (string?)Assert.Single(submits.Entries).Entry["username"]);
        Assert.Empty((await admin.QueryAuditAsync(SiteFixture.EndpointId, user: site.Alice.Name, since: since, until: since.AddMilliseconds(1))).Entries);
        var newest = await admin.QueryAuditAsync(SiteFixture.EndpointId, user: site.Alice.Name, since: since, limit: 1);
        Assert.True(newest.Truncated);
        Assert.Equal(all.Entries[^1].Entry.ToJsonString(), Assert.Single(newest.Entries).Entry.ToJsonString());

        // Alice may run tasks here but is no admin: 403, and her own entries stay hidden from her too.
        using var aliceClient = new MepClient(site.ApiBase, site.TokenFor(site.AliceIdentity), site.Tls.Handler());
        var refused = await Assert.ThrowsAsync<MepApiException>(() => aliceClient.QueryAuditAsync(SiteFixture.EndpointId));
        Assert.Equal(403, refused.Status);
        Assert.Contains("is not an admin", refused.Detail, StringComparison.Ordinal);

        // Bad parameters: 400 problem+json naming the parameter, before anything is read.
        using var raw = site.ClientFor(site.AdminIdentity);
        foreach (var (query, parameter) in new[]
        {
            ("since=yesterday", "since: "), ("until=2025-13-45T00:00Z", "until: "), ("task=nope", "task: "), ("action=delete", "action: "),
            ("limit=0", "limit: "), ("limit=ten", "limit: "), ($"since={Uri.EscapeDataString(DateTimeOffset.UtcNow.ToString("O"))}&until=2020-01-01T00:00Z", "since: "),
        })
        {
            using var response = await raw.GetAsync($"v1/admin/endpoints/{SiteFixture.EndpointId}/audit?{query}");
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.StartsWith(parameter, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        // The CLI: a table with the node, --json as the API has it, one line for a refusal.
        var environment = new Dictionary<string, string> { ["MEP_URL"] = site.ApiBase.AbsoluteUri, ["MEP_CA_FILE"] = site.Tls.CaFile, ["MEP_TOKEN"] = site.TokenFor(site.AdminIdentity) };
        var table = await CliRunner.RunAsync(environment, "admin", "audit", SiteFixture.EndpointId, "--task", task.ToString());
        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Contains(table.StdoutLines, l => l.Contains("task-ended", StringComparison.Ordinal) && l.Contains(node, StringComparison.Ordinal));
        Assert.Contains($"entries from {node}", table.Stdout, StringComparison.Ordinal);
        var json = await CliRunner.RunAsync(environment, "admin", "audit", SiteFixture.EndpointId, "--user", site.Alice.Name, "--since", "10m", "--action", "task-ended", "--json");
        Assert.True(json.ExitCode == 0, json.ToString());
        Assert.Contains(ProtocolJson.Deserialize<AdminAuditList>(json.Stdout).Entries, e => (string?)e.Entry["task_id"] == task.ToString());
        environment["MEP_TOKEN"] = site.TokenFor(site.AliceIdentity);
        var cliRefused = await CliRunner.RunAsync(environment, "admin", "audit", SiteFixture.EndpointId);
        Assert.NotEqual(0, cliRefused.ExitCode);
        Assert.Contains("is not an admin", Assert.Single(cliRefused.StderrLines), StringComparison.Ordinal);
    }
}
