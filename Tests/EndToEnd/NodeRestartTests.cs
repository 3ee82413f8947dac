using System.Text.Json;
using Mep.Grains.Launching;
using Mep.Protocol.Api;
using Mep.Tests.Infrastructure;
using Xunit;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.EndToEnd;

/// <summary>
/// A login node's two services crash, the silo first and then the launcher, while a user endpoint runs: the UEP
/// process runs on in its own session, the restarted launcher adopts it from its state directory, the restarted silo
/// reconciles its grain with what the launcher reports, and a task submitted afterwards runs in that same process.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class NodeRestartTests(SiteFixture site)
{
    [Fact]
    public async Task Killing_the_silo_then_the_launcher_leaves_user_endpoints_running_and_later_tasks_reach_them()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var function = await SiteApi.RegisterAsync(alice, "echo ran as $(id -un)");
        var label = $"restart-{Guid.NewGuid():N}";
        var first = await SiteApi.PostAsync<SubmitResponse>(alice, $"v1/endpoints/{SiteFixture.EndpointId}/submit",
            new SubmitRequest([new TaskSubmission(function)], new() { ["label"] = label }));
        Assert.Equal(ApiTaskStatus.Success, (await SiteApi.WaitForResultAsync(site, alice, first.TaskIds[0])).Status);

        var launcher = new LauncherClient(site.LauncherSocket);
        var before = (await launcher.ListAsync(CancellationToken.None)).Single(c => c.UepId == first.UserEndpointId);
        Assert.True(IsRunning(before.Pid));

        await site.KillSiloAsync();
        await site.KillLauncherAsync();
        Assert.True(IsRunning(before.Pid), "the UEP died with the services");

        await site.StartLauncherAsync();
        await site.StartSiloAsync();

        // The new launcher adopted the same process (same pid, same start), and the silo kept it: no new start.
        var adopted = (await launcher.ListAsync(CancellationToken.None)).Single(c => c.UepId == first.UserEndpointId);
        Assert.Equal((before.Pid, before.StartedAt, before.Uid), (adopted.Pid, adopted.StartedAt, adopted.Uid));

        using var again = site.ClientFor(site.AliceIdentity);
        var second = await SiteApi.PostAsync<SubmitResponse>(again, $"v1/endpoints/{SiteFixture.EndpointId}/submit",
            new SubmitRequest([new TaskSubmission(function)], new() { ["label"] = label }));
        Assert.Equal(first.UserEndpointId, second.UserEndpointId);
        var done = await SiteApi.WaitForResultAsync(site, again, second.TaskIds[0]);
        Assert.Equal(ApiTaskStatus.Success, done.Status);
        Assert.Equal($"ran as {site.Alice.Name}", done.Result!.Stdout.Trim());

        Assert.True(IsRunning(before.Pid), "the task was run by a new process");
        var view = await SiteApi.GetAsync<EndpointView>(again, $"v1/endpoints/{SiteFixture.EndpointId}");
        Assert.Equal("running", view.UserEndpoints.Single(u => u.UserEndpointId == first.UserEndpointId).State);

        // The audit log agrees: one start of this UEP, before the crash, and no exit.
        var audit = File.ReadAllLines(site.AuditLog)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.TryGetProperty("user_endpoint_id", out var id) && id.GetString() == first.UserEndpointId)
            .Select(e => e.GetProperty("action").GetString())
            .ToList();
        Assert.Equal(1, audit.Count(a => a == "uep-start"));
        Assert.DoesNotContain("uep-exit", audit);
    }

    private static bool IsRunning(int pid) => Mep.Tests.Launcher.ProcFiles.IsRunning(pid);
}
