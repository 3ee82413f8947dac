using Mep.Contracts.Model;
using Mep.Protocol.Messages;
using Mep.Sdk;
using Mep.Tests.EndToEnd;
using Mep.Tests.Infrastructure;
using Xunit;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.Grains;

/// <summary>
/// A local account deleted (userdel) while its user endpoint runs: at the next heartbeat the UEP is stopped, its tasks
/// fail saying why, and the account's identity can start nothing more (403).
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class DeletedAccountTests(SiteFixture site) : IAsyncLifetime
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
        var lifecycle = _lifecycle = await LifecycleSite.StartAsync(site,
            new Dictionary<string, string> { ["dave"] = _dave.Name, ["alice"] = site.Alice.Name });
        var receipt = await lifecycle.SubmitAsync("dave", tasks: 2);
        var uep = lifecycle.Uep(receipt.UserEndpointId);
        await using var standIn = await lifecycle.StandInAsync(receipt.UserEndpointId);
        var pid = (await uep.GetSnapshot()).Pid!.Value;
        // The launcher's child turns into the user's process on its way to exec: wait for it to run as Dave.
        string RealUid() => File.ReadAllLines($"/proc/{pid}/status").Single(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t')[1];
        await Poll.UntilTrue(() => Task.FromResult(RealUid() == $"{_dave.Uid}"), TimeSpan.FromSeconds(30), () => $"the UEP runs as uid {RealUid()}, not {_dave.Uid}");
        await standIn.PublishAsync(new EndpointEvent(EndpointEventKind.Heartbeat, receipt.UserEndpointId, DateTimeOffset.UtcNow, Pid: pid));
        await Poll.UntilTrue(async () => (await uep.GetSnapshot()).Phase == UserEndpointPhase.Running,
            TimeSpan.FromSeconds(30), () => "the user endpoint never ran");

        // The account goes while its UEP runs (-f: even with its processes alive); the next heartbeat notices.
        TestUser.Run("userdel", "-f", "-r", _dave.Name);
        await standIn.PublishAsync(new EndpointEvent(EndpointEventKind.Heartbeat, receipt.UserEndpointId, DateTimeOffset.UtcNow, Pid: pid));

        using var dave = lifecycle.Client("dave");
        var reason = $"local account '{_dave.Name}' no longer exists on this node";
        var failed = await Poll.Until(
            async () => (await dave.GetTaskStatusAsync(receipt.TaskIds)).Tasks.Values is var tasks && tasks.All(t => t.Status != ApiTaskStatus.Pending)
                ? tasks.ToList()
                : null,
            TimeSpan.FromSeconds(30),
            () => "the tasks of the deleted account are still pending");
        Assert.All(failed, t => Assert.Equal((ApiTaskStatus.Failed, reason), (t.Status, t.Result!.Error)));

        // Its process is stopped (the stand-in goes at SIGTERM), and the UEP ends failed with the reason.
        var snapshot = await Poll.Until(
            async () => await uep.GetSnapshot() is { Phase: UserEndpointPhase.Failed } s ? s : null,
            TimeSpan.FromSeconds(30),
            () => "the user endpoint of the deleted account was not stopped");
        Assert.Equal((reason, (int?)null), (snapshot.Reason, snapshot.Pid));
        Assert.False(Directory.Exists($"/proc/{pid}"), $"process {pid} still runs");

        // Nothing new starts as the deleted account: the submit is refused and says why.
        var refused = await Assert.ThrowsAsync<MepApiException>(() => lifecycle.SubmitAsync("dave", config: """{"label":"again"}"""));
        Assert.Equal(403, refused.Status);
        Assert.Contains($"local account '{_dave.Name}' does not exist on this node", refused.Detail);

        // Other accounts are not affected.
        var alice = await lifecycle.SubmitAsync("alice");
        await Poll.UntilTrue(async () => (await lifecycle.Uep(alice.UserEndpointId).GetSnapshot()).Phase == UserEndpointPhase.Starting,
            TimeSpan.FromSeconds(30), () => "alice's user endpoint did not start");
    }
}
