using System.Text.Json.Nodes;
using Mep.Protocol.Api;
using Mep.Tests.Infrastructure;
using Xunit;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.EndToEnd;

/// <summary>
/// The Slurm provider through the real site and a real single-node Slurm (scripts/slurm-node): workers run inside
/// batch jobs that belong to the mapped users, idle UEPs cancel their jobs, and the scheduler's refusals reach the user.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class SlurmExecutionTests(SiteFixture site) : IAsyncLifetime
{
    public async Task InitializeAsync()
    {
        await SlurmCluster.EnsureStartedAsync();
        // Accounting is enforced: the site's users must belong to the account their jobs name.
        foreach (var user in new[] { site.Alice.Name, site.Bob.Name })
        {
            await SlurmCluster.RunAsync(SlurmCluster.ScriptPath, "add-user", user, SlurmCluster.TestAccount);
        }
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private static JsonObject SlurmConfig(string account) => new()
    {
        ["test"] = Guid.NewGuid().ToString(),
        ["provider"] = "slurm",
        ["partition"] = SlurmCluster.DefaultPartition,
        ["account"] = account,
        ["workers"] = 2,
    };

    private static async Task<SubmitResponse> SubmitAsync(HttpClient client, Guid function, JsonObject config) =>
        await SiteApi.PostAsync<SubmitResponse>(client, $"v1/endpoints/{SiteFixture.QuickIdleEndpointId}/submit",
            new SubmitRequest([new TaskSubmission(function)], config));

    [Fact]
    public async Task Tasks_of_two_users_run_in_their_own_slurm_jobs_which_are_cancelled_when_the_endpoint_goes_idle()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        using var bob = site.ClientFor(site.BobIdentity);
        var function = await SiteApi.RegisterAsync(alice, "echo \"${{SLURM_JOB_ID:-none}} $(id -un)\"");

        var aliceReceipt = await SubmitAsync(alice, function, SlurmConfig(SlurmCluster.TestAccount));
        var bobReceipt = await SubmitAsync(bob, function, SlurmConfig(SlurmCluster.TestAccount));
        var aliceDone = await SiteApi.WaitForResultAsync(site, alice, aliceReceipt.TaskIds[0]);
        var bobDone = await SiteApi.WaitForResultAsync(site, bob, bobReceipt.TaskIds[0]);

        var jobs = new List<string>();
        foreach (var (done, user, uid, taskId) in new[]
                 {
                     (aliceDone, site.Alice.Name, site.Alice.Uid, aliceReceipt.TaskIds[0]),
                     (bobDone, site.Bob.Name, site.Bob.Uid, bobReceipt.TaskIds[0]),
                 })
        {
            Assert.True(done.Status == ApiTaskStatus.Success, $"{user}: {done.Result?.Error}\n{site.Diagnostics()}");
            var words = done.Result!.Stdout.Trim().Split(' ');
            Assert.Equal(user, words[1]);
            Assert.True(long.TryParse(words[0], out _), $"not in a Slurm job: {done.Result.Stdout}");
            Assert.Equal(words[0], done.Placement!.JobId);
            jobs.Add(words[0]);
            // The audit log (read with mep audit, while the silo writes it) names the job and the uid for the task.
            await AssertAuditedInJobAsync(taskId, words[0], uid);
            // The job is the user's own in Slurm's records too (accounting: the job may have ended already).
            var owner = await Poll.Until(
                async () => (await SlurmCluster.RunAsync("sacct", "--noheader", "--allocations", "--jobs", words[0], "--format=User%64")).Trim() is { Length: > 0 } u ? u : null,
                TimeSpan.FromSeconds(60), () => $"sacct knows nothing of job {words[0]}");
            Assert.Equal(user, owner);
        }

        // Idle for the endpoint's 5 s: each UEP cancels its job before it exits.
        foreach (var job in jobs)
        {
            await Poll.UntilTrue(
                async () => (await SlurmCluster.RunAsync("squeue", "--noheader", "--jobs", job, "--format=%T")).Trim().Length == 0,
                SiteApi.ResultTimeout, () => $"job {job} is still in the queue\n{site.Diagnostics()}");
        }

        foreach (var job in jobs)
        {
            var state = await Poll.Until(
                async () => (await SlurmCluster.RunAsync("sacct", "--noheader", "--allocations", "--jobs", job, "--format=State")).Trim() is { Length: > 0 } s ? s : null,
                TimeSpan.FromSeconds(60), () => $"sacct knows nothing of job {job}");
            Assert.StartsWith("CANCELLED", state);
        }
    }

    private async Task AssertAuditedInJobAsync(Guid taskId, string job, int uid)
    {
        var run = await Mep.Tests.Cli.CliRunner.RunAsync("audit", "--file", site.AuditLog, "--task", taskId.ToString(), "--since", "1h", "--json");
        Assert.True(run.ExitCode == 0, run.ToString());
        var entries = run.StdoutLines.Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Equal(["task-received", "task-started", "task-ended"], entries.Select(e => (string)e["action"]!));
        Assert.All(entries, e => Assert.Equal(uid, (int)e["uid"]!));
        Assert.All(entries.Skip(1), e => Assert.Equal(job, (string)e["job_id"]!));
        Assert.Equal("success", (string)entries[2]["state"]!);
    }

    [Fact]
    public async Task A_bad_account_fails_the_task_with_the_schedulers_message()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var function = await SiteApi.RegisterAsync(alice, "true");

        var receipt = await SubmitAsync(alice, function, SlurmConfig(SlurmCluster.OtherAccount));
        var done = await SiteApi.WaitForResultAsync(site, alice, receipt.TaskIds[0]);

        Assert.Equal(ApiTaskStatus.Failed, done.Status);
        Assert.Contains("Invalid account or account/partition combination specified", done.Result!.Error);
        Assert.Contains("slurm provider could not start workers", done.Result.Error);
    }
}
