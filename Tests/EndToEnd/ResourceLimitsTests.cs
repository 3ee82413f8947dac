using System.Globalization;
using System.Text.Json.Nodes;
using Mep.Protocol.Api;
using Mep.Tests.Infrastructure;
using Mep.Tests.Limits;
using Xunit;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.EndToEnd;

/// <summary>
/// The endpoint's <c>user_endpoint_limits</c> through the real site: a UEP started by a task submission runs with the
/// configured rlimits in a cgroup of its own with the configured memory and pids limits (and so does its task), the
/// audit log's uep-start entry says how it is contained, and the cgroup is gone once the UEP is stopped.
/// </summary>
[Collection(SiteCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ResourceLimitsTests(SiteFixture site)
{
    [Fact]
    public async Task A_uep_from_a_submission_has_the_configured_rlimits_and_cgroup_and_the_audit_says_so()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var function = await SiteApi.RegisterAsync(alice,
            // At most 5 lines: the engine endpoints keep the last 5 (output_lines).
            "grep -E '^Max (processes|open files|address space) ' /proc/self/limits | tr -s ' '; grep -E ':pids:|^0::' /proc/self/cgroup");
        var receipt = await SiteApi.PostAsync<SubmitResponse>(alice, $"v1/endpoints/{SiteFixture.LimitedEndpointId}/submit",
            new SubmitRequest([new TaskSubmission(function)], new JsonObject { ["test"] = Guid.NewGuid().ToString() }));
        var done = await SiteApi.WaitForResultAsync(site, alice, receipt.TaskIds[0]);
        Assert.Equal(ApiTaskStatus.Success, done.Status);

        var uepId = receipt.UserEndpointId;
        var cgroup = $"/mep/uep-{uepId}";
        var expected = CgroupLimitsTests.ExpectedCgroups(uepId);

        // The task, started by a worker the UEP started, inherited all of it.
        var output = done.Result!.Stdout!;
        Assert.Contains("Max processes 4096 4096 processes", output, StringComparison.Ordinal);
        Assert.Contains("Max open files 2048 2048 files", output, StringComparison.Ordinal);
        Assert.Contains($"Max address space {64L << 30} {64L << 30} bytes", output, StringComparison.Ordinal);
        Assert.Contains(expected.V2 is null ? $"pids:{cgroup}\n" : $"0::{cgroup}\n", output, StringComparison.Ordinal);

        // The UEP process itself, as the audit log names it, and its cgroup's limits.
        var start = await Poll.Until(
            async () => (await File.ReadAllLinesAsync(site.AuditLog)).Select(l => JsonNode.Parse(l)!.AsObject())
                .LastOrDefault(e => (string?)e["action"] == "uep-start" && (string?)e["user_endpoint_id"] == uepId),
            TimeSpan.FromSeconds(30),
            () => "no uep-start entry in the audit log");
        var pid = (int)start["pid"]!;
        var limits = File.ReadAllText($"/proc/{pid}/limits");
        Assert.Matches(@"Max processes\s+4096\s+4096", limits);
        Assert.Matches(@"Max open files\s+2048\s+2048", limits);
        var membership = File.ReadAllLines($"/proc/{pid}/cgroup");
        var resourceControl = (string?)start["resource_control"];
        if (expected.V2 is { } v2)
        {
            Assert.Contains($"0::{cgroup}", membership);
            Assert.Equal((2L << 30).ToString(CultureInfo.InvariantCulture), Read(v2, "memory.max"));
            Assert.Equal("600", Read(v2, "pids.max"));
            Assert.StartsWith($"cgroup v2: {v2} (memory.max {2L << 30}", resourceControl, StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains(membership, line => line.Split(':')[1].Split(',').Contains("memory") && line.EndsWith(":" + cgroup, StringComparison.Ordinal));
            Assert.Contains(membership, line => line.Split(':')[1].Split(',').Contains("pids") && line.EndsWith(":" + cgroup, StringComparison.Ordinal));
            Assert.Equal((2L << 30).ToString(CultureInfo.InvariantCulture), Read(expected.V1Memory!, "memory.limit_in_bytes"));
            Assert.Equal("600", Read(expected.V1Pids!, "pids.max"));
            Assert.StartsWith($"cgroup v1: {expected.V1Memory} (memory.limit_in_bytes {2L << 30}", resourceControl, StringComparison.Ordinal);
            Assert.Contains($"{expected.V1Pids} (pids.max 600)", resourceControl, StringComparison.Ordinal);
        }

        // Stopped through the API: once the UEP is gone, so is its cgroup.
        using var handler = site.Tls.Handler();
        using var sdk = new Mep.Sdk.MepClient(site.ApiBase, site.TokenFor(site.AliceIdentity), handler);
        await sdk.StopUserEndpointAsync(SiteFixture.LimitedEndpointId, uepId);
        await Poll.UntilTrue(
            () => Task.FromResult(expected.All.All(path => !Directory.Exists(path))),
            TimeSpan.FromSeconds(60),
            () => $"the UEP's cgroups {string.Join(", ", expected.All)} were not removed\n{site.Diagnostics()}");
    }

    private static string Read(string cgroup, string file) => File.ReadAllText(Path.Combine(cgroup, file)).Trim();
}
