using System.Diagnostics;
using System.Text.Json.Nodes;
using Mep.Protocol.Api;
using Mep.Tests.Infrastructure;
using Xunit;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.EndToEnd;

/// <summary>
/// Task execution with the local provider through the real site (issue 6): workers started by the UEP as the user,
/// worker_init and endpoint_setup/teardown, walltime, result size, output lines, a worker killed mid-task.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class TaskExecutionTests(SiteFixture site)
{
    private static Task<SubmitResponse> SubmitAsync(HttpClient client, JsonObject config, params TaskSubmission[] tasks) =>
        SubmitAsync(client, SiteFixture.EngineEndpointId, config, tasks);

    private static async Task<SubmitResponse> SubmitAsync(HttpClient client, string endpointId, JsonObject config, params TaskSubmission[] tasks) =>
        await SiteApi.PostAsync<SubmitResponse>(client, $"v1/endpoints/{endpointId}/submit", new SubmitRequest(tasks, config));

    /// <summary>A config no other test uses, so that the test gets a UEP of its own.</summary>
    private static JsonObject Config(params (string Key, JsonNode? Value)[] values)
    {
        var config = new JsonObject { ["test"] = Guid.NewGuid().ToString() };
        foreach (var (key, value) in values)
        {
            config[key] = value;
        }

        return config;
    }

    [Fact]
    public async Task Worker_init_and_endpoint_setup_run_before_tasks_and_teardown_after_the_last()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var marker = $"mep-setup-{Guid.NewGuid():N}";
        var function = await SiteApi.RegisterAsync(alice, "cat \"$HOME/" + marker + ".setup\"; echo \"$FROM_INIT\"; id -un");
        var config = Config(
            ("worker_init", "export FROM_INIT=initialised"),
            ("setup", $"echo set-up > \"$HOME/{marker}.setup\""),
            ("teardown", $"echo torn-down > \"$HOME/{marker}.teardown\""));

        var receipt = await SubmitAsync(alice, SiteFixture.QuickIdleEndpointId, config, new TaskSubmission(function));
        var done = await SiteApi.WaitForResultAsync(site, alice, receipt.TaskIds[0]);

        Assert.Equal(ApiTaskStatus.Success, done.Status);
        Assert.Equal($"set-up\ninitialised\n{site.Alice.Name}\n", done.Result!.Stdout);
        // The UEP goes idle a few seconds later, and runs the teardown before it exits.
        var teardown = Path.Combine(site.Alice.Home, marker + ".teardown");
        await Poll.UntilTrue(() => Task.FromResult(File.Exists(teardown)), SiteApi.ResultTimeout, () => $"endpoint_teardown never ran\n{site.Diagnostics()}");
        Assert.Equal("torn-down\n", await File.ReadAllTextAsync(teardown));
    }

    [Fact]
    public async Task A_task_past_its_walltime_is_killed_with_its_process_group_and_fails_saying_so()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var pidFile = $"mep-walltime-{Guid.NewGuid():N}.pid";
        var function = await SiteApi.RegisterAsync(alice, $"sleep 600 & echo $! > \"$HOME/{pidFile}\"; wait");

        var receipt = await SubmitAsync(alice, Config(), new TaskSubmission(function, WalltimeSeconds: 2));
        var done = await SiteApi.WaitForResultAsync(site, alice, receipt.TaskIds[0]);

        Assert.Equal(ApiTaskStatus.Failed, done.Status);
        Assert.Contains("walltime of 2 s exceeded", done.Result!.Error);
        var child = int.Parse((await File.ReadAllTextAsync(Path.Combine(site.Alice.Home, pidFile))).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(await Poll.TryUntilAsync(() => !Directory.Exists($"/proc/{child}"), TimeSpan.FromSeconds(30)),
            "the task's background child survived the walltime kill");
    }

    [Fact]
    public async Task Output_is_kept_to_the_last_lines_and_a_result_over_the_size_limit_fails()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var lines = await SiteApi.RegisterAsync(alice, "seq 1 100");
        var large = await SiteApi.RegisterAsync(alice, $"head -c {SiteFixture.EngineResultSizeLimit * 2} /dev/zero | tr '\\0' x");

        var receipt = await SubmitAsync(alice, Config(), new TaskSubmission(lines), new TaskSubmission(large));
        var kept = await SiteApi.WaitForResultAsync(site, alice, receipt.TaskIds[0]);
        var refused = await SiteApi.WaitForResultAsync(site, alice, receipt.TaskIds[1]);

        Assert.Equal(ApiTaskStatus.Success, kept.Status);
        Assert.Equal("96\n97\n98\n99\n100\n", kept.Result!.Stdout);
        Assert.True(kept.Result.OutputTruncated);
        Assert.Equal(ApiTaskStatus.Failed, refused.Status);
        Assert.Contains($"exceeds the endpoint's limit of {SiteFixture.EngineResultSizeLimit} bytes", refused.Result!.Error);
    }

    [Fact]
    public async Task A_worker_killed_mid_task_does_not_lose_the_task()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var marker = Path.Combine(site.Alice.Home, $"mep-kill-{Guid.NewGuid():N}");
        // The first run signals it started and then waits long; the second run finds the mark and finishes at once.
        var function = await SiteApi.RegisterAsync(alice, $"if [ -e {marker} ]; then echo second run; else touch {marker}; sleep 600; fi");
        var config = Config(("workers", 1), ("max_blocks", 1));

        var receipt = await SubmitAsync(alice, config, new TaskSubmission(function));
        await Poll.UntilTrue(() => Task.FromResult(File.Exists(marker)), SiteApi.ResultTimeout, () => $"the task never started\n{site.Diagnostics()}");
        var workers = WorkerPids(site.Alice.Name, receipt.UserEndpointId);
        Assert.Single(workers);
        using (var worker = Process.GetProcessById(workers[0]))
        {
            worker.Kill();
        }

        var done = await SiteApi.WaitForResultAsync(site, alice, receipt.TaskIds[0]);
        Assert.Equal(ApiTaskStatus.Success, done.Status);
        Assert.Equal("second run\n", done.Result!.Stdout);
    }

    /// <summary>The worker processes of one UEP: <c>mep-endpoint worker</c> with that UEP's document, owned by the user.</summary>
    internal static List<int> WorkerPids(string user, string uepId)
    {
        var psi = new ProcessStartInfo("pgrep", ["-u", user, "-f", $"worker --document \\S*/{uepId}/worker.json"]) { RedirectStandardOutput = true };
        using var pgrep = Process.Start(psi)!;
        var output = pgrep.StandardOutput.ReadToEnd();
        pgrep.WaitForExit();
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();
    }
}
