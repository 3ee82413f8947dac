using Mep.Contracts.Model;
using Mep.Protocol.Api;
using Mep.Protocol.Messages;
using Mep.Sdk;
using Mep.Tests.EndToEnd;
using Mep.Tests.Infrastructure;
using Xunit;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.Grains;

/// <summary>
/// A local account goes while its user endpoint runs. Deleted (userdel): at the next heartbeat the UEP is stopped, its
/// tasks fail saying why, and the account's identity can start nothing more (403). Expired (usermod -e 1, the way an
/// account is locked for good): the launcher, which alone can read the shadow file, stops the UEP; its tasks fail
/// saying why and later work fails at the launcher's refusal.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class AccountLossTests(SiteFixture site) : IAsyncLifetime
{
    private readonly TestUser _dave = TestUser.Create("mepd");
    private LifecycleSite? _lifecycle;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_lifecycle is not null)
        {
            await _lifecycle.DisposeAsync();
        }

        _dave.Dispose();
    }

    [Fact]
    public async Task A_running_user_endpoint_of_a_deleted_account_is_stopped_and_no_new_one_starts()
    {
        var (lifecycle, receipt, pid, standIn) = await RunDavesUserEndpointAsync();
        await using var _ = standIn;

        // The account goes while its UEP runs (-f: even with its processes alive); the next heartbeat notices.
        TestUser.Run("userdel", "-f", "-r", _dave.Name);
        await standIn.PublishAsync(new EndpointEvent(EndpointEventKind.Heartbeat, receipt.UserEndpointId, DateTimeOffset.UtcNow, Pid: pid));

        // Its tasks fail; its process is stopped (the stand-in goes at SIGTERM), and the UEP ends failed with the reason.
        await AssertStoppedWithTasksFailedAsync(lifecycle, receipt, pid, $"local account '{_dave.Name}' no longer exists on this node");

        // Nothing new starts as the deleted account: the submit is refused and says why.
        var refused = await Assert.ThrowsAsync<MepApiException>(() => lifecycle.SubmitAsync("dave", config: """{"label":"again"}"""));
        Assert.Equal(403, refused.Status);
        Assert.Contains($"local account '{_dave.Name}' does not exist on this node", refused.Detail);

        // Other accounts are not affected.
        var alice = await lifecycle.SubmitAsync("alice");
        await Poll.UntilTrue(async () => (await lifecycle.Uep(alice.UserEndpointId).GetSnapshot()).Phase == UserEndpointPhase.Starting,
            TimeSpan.FromSeconds(30), () => "alice's user endpoint did not start");
    }

    [Fact]
    public async Task A_running_user_endpoint_of_an_expired_account_is_stopped_by_the_launcher_and_its_tasks_fail()
    {
        var (lifecycle, receipt, pid, standIn) = await RunDavesUserEndpointAsync();
        await using var _ = standIn;

        TestUser.Run("usermod", "--expiredate", "1", _dave.Name);

        var expired = $"the account of user '{_dave.Name}' expired on 1970-01-02";
        await AssertStoppedWithTasksFailedAsync(lifecycle, receipt, pid, $"the launcher stopped the user endpoint: {expired}");
        var exit = lifecycle.AuditEntries().Single(e => e.GetProperty("action").GetString() == "uep-exit");
        Assert.Equal($"the launcher stopped the user endpoint: {expired}", exit.GetProperty("reason").GetString());
        Assert.Equal(128 + 15, exit.GetProperty("exit_code").GetInt32());

        // New work is accepted (the silo cannot read the shadow file) but nothing starts: the launcher refuses.
        var again = await lifecycle.SubmitAsync("dave", config: """{"label":"again"}""");
        using var dave = lifecycle.Client("dave");
        var refused = await Poll.Until(
            async () => (await dave.GetTaskStatusAsync(again.TaskIds)).Tasks.Values.Single() is { Status: not ApiTaskStatus.Pending } t ? t : null,
            TimeSpan.FromSeconds(30),
            () => "the task of the expired account is still pending");
        Assert.Equal((ApiTaskStatus.Failed, $"the launcher refused to start the user endpoint: {expired}"), (refused.Status, refused.Result!.Error));
    }

    /// <summary>Dave submits two tasks and his UEP (the launcher's real child, as him) reports running.</summary>
    private async Task<(LifecycleSite Lifecycle, SubmitResponse Receipt, int Pid, UepStandIn StandIn)> RunDavesUserEndpointAsync()
    {
        var lifecycle = _lifecycle = await LifecycleSite.StartAsync(site,
            new Dictionary<string, string> { ["dave"] = _dave.Name, ["alice"] = site.Alice.Name });
        var receipt = await lifecycle.SubmitAsync("dave", tasks: 2);
        var uep = lifecycle.Uep(receipt.UserEndpointId);
        var standIn = await lifecycle.StandInAsync(receipt.UserEndpointId);
        var pid = (await uep.GetSnapshot()).Pid!.Value;
        // The launcher's child turns into the user's process on its way to exec: wait for it to run as Dave.
        string RealUid() => File.ReadAllLines($"/proc/{pid}/status").Single(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t')[1];
        await Poll.UntilTrue(() => Task.FromResult(RealUid() == $"{_dave.Uid}"), TimeSpan.FromSeconds(30), () => $"the UEP runs as uid {RealUid()}, not {_dave.Uid}");
        await standIn.PublishAsync(new EndpointEvent(EndpointEventKind.Heartbeat, receipt.UserEndpointId, DateTimeOffset.UtcNow, Pid: pid));
        await Poll.UntilTrue(async () => (await uep.GetSnapshot()).Phase == UserEndpointPhase.Running,
            TimeSpan.FromSeconds(30), () => "the user endpoint never ran");
        return (lifecycle, receipt, pid, standIn);
    }

    private static async Task AssertStoppedWithTasksFailedAsync(LifecycleSite lifecycle, SubmitResponse receipt, int pid, string reason)
    {
        using var client = lifecycle.Client("dave");
        var failed = await Poll.Until(
            async () => (await client.GetTaskStatusAsync(receipt.TaskIds)).Tasks.Values is var tasks && tasks.All(t => t.Status != ApiTaskStatus.Pending)
                ? tasks.ToList()
                : null,
            TimeSpan.FromSeconds(30),
            () => "the tasks of the lost account are still pending");
        Assert.All(failed, t => Assert.Equal((ApiTaskStatus.Failed, reason), (t.Status, t.Result!.Error)));

        // Longer than the endpoint's stop grace period (30 s): if SIGTERM does not end it, the SIGKILL after the grace
        // period must, and that too is a pass (once, in a loaded CI run, the stop took that path).
        var snapshot = await Poll.Until(
            async () => await lifecycle.Uep(receipt.UserEndpointId).GetSnapshot() is { Phase: UserEndpointPhase.Failed } s ? s : null,
            TimeSpan.FromSeconds(75),
            () => "the user endpoint of the lost account was not stopped");
        Assert.Equal((reason, (int?)null), (snapshot.Reason, snapshot.Pid));
        Assert.False(Directory.Exists($"/proc/{pid}"), $"process {pid} still runs");
    }
}
