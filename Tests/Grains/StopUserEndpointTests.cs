using Mep.Contracts.Model;
using Mep.Protocol.Api;
using Mep.Protocol.Messages;
using Mep.Sdk;
using Mep.Tests.Cli;
using Mep.Tests.EndToEnd;
using Mep.Tests.Infrastructure;
using Xunit;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.Grains;

/// <summary>
/// Stopping a user endpoint through the real API, SDK and CLI, with the real launcher signalling a UEP script that
/// runs as the user: who may stop it, what happens to its tasks, SIGTERM then SIGKILL, and the audit trail.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class StopUserEndpointTests(SiteFixture site) : LifecycleTest(site)
{
    private static readonly TimeSpan StateTimeout = TimeSpan.FromMinutes(1);


    [Fact]
    public async Task The_owner_or_an_admin_stops_a_user_endpoint_others_hear_it_does_not_exist_and_tasks_wait_for_the_next_start()
    {
        Lifecycle = await LifecycleSite.StartAsync(Site,
            new Dictionary<string, string> { ["alice"] = Site.Alice.Name, ["bob"] = Site.Bob.Name },
            extraConfig: "admins: [admin-{suffix}@lifecycle.test]");
        var lifecycle = Lifecycle;
        var first = await lifecycle.SubmitAsync("alice");
        var uepId = first.UserEndpointId;
        var taskId = first.TaskIds[0];
        using var alice = lifecycle.Client("alice");
        using var bob = lifecycle.Client("bob");

        // The task is in the UEP's queue and a worker reports running it.
        await using (var standIn = await lifecycle.StandInAsync(uepId))
        {
            await WaitForTaskAsync(alice, taskId, TaskLifecycleState.WaitingForNodes);
            await standIn.StartedAsync(taskId, DateTimeOffset.UtcNow, "1.0", "node-a", null, attempt: 1);
            await WaitForTaskAsync(alice, taskId, TaskLifecycleState.Running);
        }

        // Another user: a 404 word for word like that of an id nobody uses.
        var unknown = Guid.NewGuid().ToString();
        var foreign = await Assert.ThrowsAsync<MepApiException>(() => bob.StopUserEndpointAsync(lifecycle.EndpointId, uepId));
        var never = await Assert.ThrowsAsync<MepApiException>(() => bob.StopUserEndpointAsync(lifecycle.EndpointId, unknown));
        Assert.Equal((404, 404), (foreign.Status, never.Status));
        Assert.Equal(never.Detail.Replace(unknown, "ID", StringComparison.Ordinal), foreign.Detail.Replace(uepId, "ID", StringComparison.Ordinal));
        Assert.Equal(UserEndpointPhase.Starting, (await lifecycle.Uep(uepId).GetSnapshot()).Phase);

        // The owner: 202 at once, stopping; then stopped, with the task kept and waiting for an endpoint again.
        var stopping = await alice.StopUserEndpointAsync(lifecycle.EndpointId, uepId);
        Assert.Equal((uepId, "stopping"), (stopping.UserEndpointId, stopping.State));
        Assert.StartsWith($"stopped by {lifecycle.Identity("alice")}; stopping (SIGTERM", stopping.Reason);
        var stopped = await WaitForStateAsync(alice, uepId, "stopped");
        Assert.Equal(($"stopped by {lifecycle.Identity("alice")}", 1), (stopped.Reason, stopped.PendingTasks));
        var kept = await alice.GetTaskAsync(taskId);
        Assert.Equal((ApiTaskStatus.Pending, TaskLifecycleState.WaitingForEndpoint), (kept.Status, kept.State));

        // Held: it does not start again for the task it kept...
        Assert.False(await Poll.TryUntilAsync(
            async () => (await lifecycle.Uep(uepId).GetSnapshot()).Phase != UserEndpointPhase.Stopped, TimeSpan.FromSeconds(3)));

        // ...until new work arrives; then the kept task is still in its queue, next to the new one.
        var second = await lifecycle.SubmitAsync("alice");
        Assert.Equal(uepId, second.UserEndpointId);
        await using (var standIn = await lifecycle.StandInAsync(uepId))
        {
            var taken = new[] { await standIn.TakeTaskAsync(), await standIn.TakeTaskAsync() }.Select(t => t.TaskId).ToHashSet();
            Assert.Equal(new HashSet<Guid> { taskId, second.TaskIds[0] }, taken);
        }

        // An endpoint admin stops anyone's user endpoint through the CLI; another user cannot, through the CLI either.
        var refused = await CliRunner.RunAsync(lifecycle.CliEnvironment("bob"), "endpoint", "stop-uep", lifecycle.EndpointId, uepId);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains($"user endpoint {uepId} not found", refused.Stderr);
        var byAdmin = await CliRunner.RunAsync(lifecycle.CliEnvironment("admin"), "endpoint", "stop-uep", lifecycle.EndpointId, uepId);
        Assert.True(byAdmin.ExitCode == 0, byAdmin.ToString());
        Assert.Matches(@"state\s+stopping", byAdmin.Stdout);
        Assert.Contains($"stopped by endpoint admin {lifecycle.Identity("admin")}", byAdmin.Stdout);
        var byAdminStopped = await WaitForStateAsync(alice, uepId, "stopped");
        Assert.Equal($"stopped by endpoint admin {lifecycle.Identity("admin")}", byAdminStopped.Reason);

        // Every stop request is in the audit log, allowed or refused, with the user endpoint it named.
        var stops = lifecycle.AuditEntries().Where(e => e.GetProperty("action").GetString() == "stop").ToList();
        string Who(System.Text.Json.JsonElement e) => e.GetProperty("username").GetString()!;
        Assert.Equal(
            [
                (lifecycle.Identity("bob"), "refused", 404, uepId),
                (lifecycle.Identity("bob"), "refused", 404, unknown),
                (lifecycle.Identity("alice"), "allowed", 200, uepId),
                (lifecycle.Identity("bob"), "refused", 404, uepId),
                (lifecycle.Identity("admin"), "allowed", 200, uepId),
            ],
            stops.Select(e => (Who(e), e.GetProperty("decision").GetString(), e.GetProperty("status").GetInt32(), e.GetProperty("user_endpoint_id").GetString())));
        Assert.Equal(Site.Alice.Name, stops[2].GetProperty("local_user").GetString());
    }

    [Fact]
    public async Task A_stop_sends_sigterm_then_sigkill_after_the_grace_period_and_fails_the_tasks_when_configured()
    {
        // A UEP that notes SIGTERM and carries on: only SIGKILL ends it.
        const string stubborn = """
            #!/bin/sh
            trap 'echo TERM >> {dir}/signals' TERM
            cat > /dev/null
            echo up >> {dir}/signals
            while :; do sleep 0.2; done

            """;
        Lifecycle = await LifecycleSite.StartAsync(Site, new Dictionary<string, string> { ["alice"] = Site.Alice.Name }, stubborn,
            "stop_grace_period: 3s\ntasks_on_stop: fail");
        var lifecycle = Lifecycle;
        var signals = Path.Combine(lifecycle.Dir, "signals");
        File.WriteAllText(signals, "");
        File.SetUnixFileMode(signals, (UnixFileMode)0b110_110_110);
        var receipt = await lifecycle.SubmitAsync("alice", tasks: 2);
        using var alice = lifecycle.Client("alice");
        await Poll.UntilTrue(() => Task.FromResult(File.ReadAllText(signals).Contains("up", StringComparison.Ordinal)),
            StateTimeout, () => "the UEP script never started");

        var stoppedAt = DateTimeOffset.UtcNow;
        var stopping = await alice.StopUserEndpointAsync(lifecycle.EndpointId, receipt.UserEndpointId);
        Assert.Equal(("stopping", 0), (stopping.State, stopping.PendingTasks));

        // tasks_on_stop: fail — the tasks fail at once, saying who stopped their endpoint.
        var tasks = await alice.GetTaskStatusAsync(receipt.TaskIds);
        Assert.All(tasks.Tasks.Values, t =>
        {
            Assert.Equal(ApiTaskStatus.Failed, t.Status);
            Assert.Equal($"stopped by {lifecycle.Identity("alice")}", t.Result!.Error);
        });

        // SIGTERM first (the script noted it and ran on), SIGKILL once the grace period was over.
        await Poll.UntilTrue(() => Task.FromResult(File.ReadAllText(signals).Contains("TERM", StringComparison.Ordinal)),
            StateTimeout, () => "no SIGTERM reached the UEP");
        var stopped = await WaitForStateAsync(alice, receipt.UserEndpointId, "stopped");
        Assert.True(DateTimeOffset.UtcNow - stoppedAt >= TimeSpan.FromSeconds(2.9), $"stopped after {DateTimeOffset.UtcNow - stoppedAt}");
        Assert.Equal($"stopped by {lifecycle.Identity("alice")}; killed (SIGKILL) after the 3 s grace period", stopped.Reason);
    }

    [Fact]
    public async Task A_stopped_user_endpoint_with_nothing_queued_leaves_the_silos_memory_and_starts_again_for_the_next_task()
    {
        Lifecycle = await LifecycleSite.StartAsync(Site, new Dictionary<string, string> { ["alice"] = Site.Alice.Name });
        var lifecycle = Lifecycle;
        var first = await lifecycle.SubmitAsync("alice");
        var uepId = first.UserEndpointId;
        using var alice = lifecycle.Client("alice");
        await using (var standIn = await lifecycle.StandInAsync(uepId))
        {
            var task = await standIn.TakeTaskAsync();
            var at = DateTimeOffset.UtcNow;
            await standIn.ResultAsync(new TaskResultMessage(task.TaskId, TaskState.Success, 0, "", "", false, null, at, at, "node-a", Site.Alice.Uid, Site.Alice.Name));
            await WaitForTaskAsync(alice, task.TaskId, TaskLifecycleState.Success);
        }

        Assert.True(await IsActivatedAsync(lifecycle, uepId), "the running user endpoint's grain is not activated");
        await alice.StopUserEndpointAsync(lifecycle.EndpointId, uepId);

        // Stopped with nothing queued: its activation goes (without waiting for Orleans' idle collection)...
        await Poll.UntilTrue(async () => !await IsActivatedAsync(lifecycle, uepId), StateTimeout,
            () => $"the grain of stopped user endpoint {uepId} is still activated");

        // ...its state stays: read back, it still says who stopped it...
        var stopped = await WaitForStateAsync(alice, uepId, "stopped");
        Assert.Equal(($"stopped by {lifecycle.Identity("alice")}", 0), (stopped.Reason, stopped.PendingTasks));

        // ...and the next task starts it again.
        var second = await lifecycle.SubmitAsync("alice");
        Assert.Equal(uepId, second.UserEndpointId);
        await using (var standIn = await lifecycle.StandInAsync(uepId))
        {
            Assert.Equal(second.TaskIds[0], (await standIn.TakeTaskAsync()).TaskId);
        }
    }

    private static async Task<bool> IsActivatedAsync(LifecycleSite lifecycle, string uepId)
    {
        var activations = await lifecycle.Cluster.Client.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
        return activations.Any(a => a.GrainId.Key.ToString() == uepId);
    }

    private static async Task<TaskView> WaitForTaskAsync(MepClient client, Guid taskId, TaskLifecycleState state)
    {
        TaskView? last = null;
        return await Poll.Until(
            async () => (last = await client.GetTaskAsync(taskId)).State == state ? last : null,
            StateTimeout,
            () => $"task {taskId} is {last?.State}, not {state}");
    }

    private async Task<UserEndpointView> WaitForStateAsync(MepClient client, string uepId, string state)
    {
        UserEndpointView? last = null;
        return await Poll.Until(
            async () =>
            {
                last = (await client.GetEndpointAsync(Lifecycle!.EndpointId)).UserEndpoints.Single(u => u.UserEndpointId == uepId);
                return last.State == state ? last : null;
            },
            StateTimeout,
            () => $"user endpoint {uepId} is {last?.State} ({last?.Reason}), not {state}");
    }
}
