using System.Text.Json.Nodes;
using Mep.Protocol.Api;
using Mep.Sdk;
using Xunit;
using TaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.Sdk;

public sealed class ExecutorTests : IAsyncLifetime
{
    private StandInApiServer server = null!;
    private MepClient client = null!;
    private Guid function;

    public async Task InitializeAsync()
    {
        server = await StandInApiServer.StartAsync();
        client = new MepClient(server.BaseAddress, StandInApiServer.Token);
        function = server.AddFunction("echo {n}").FunctionId;
    }

    public async Task DisposeAsync()
    {
        client.Dispose();
        await server.DisposeAsync();
    }

    [Fact]
    public async Task Hundred_quick_submits_are_coalesced_into_few_posts_and_complete_without_task_gets()
    {
        var config = new JsonObject { ["queue"] = "debug" };
        var executor = new Executor(client, "ep1", config);
        await using var stop = executor.Bounded();

        var results = Enumerable.Range(0, 100)
            .Select(i => executor.Submit(function, new Dictionary<string, string> { ["n"] = i.ToString() }))
            .ToList();
        var views = await Task.WhenAll(results).Within();

        for (var i = 0; i < 100; i++)
        {
            Assert.Equal($"n={i}\n", views[i].Stdout); // each caller gets its own task's result
        }

        Assert.InRange(server.SubmitRequests, 1, 3);
        Assert.Equal(100, server.Submits.Sum(s => s.Tasks.Count));
        Assert.All(server.Submits, s => Assert.Equal(config.ToJsonString(), s.UserEndpointConfig?.ToJsonString()));
        Assert.Equal(0, server.TaskGets);
        // One status round asks about every outstanding task, so the rounds do not scale with the task count.
        Assert.InRange(server.StatusRequests, server.PollsUntilDone, 20);
        Assert.StartsWith("uep-ep1-", executor.UserEndpointId);
    }

    [Fact]
    public async Task Batches_are_cut_at_the_maximum_batch_size()
    {
        var executor = new Executor(client, "ep1", options: new ExecutorOptions { MaxBatchSize = 10, BatchWindow = TimeSpan.FromSeconds(5) });
        await using var stop = executor.Bounded();

        var submitted = Enumerable.Range(0, 35).Select(i => executor.SubmitTracked(function, new Dictionary<string, string> { ["n"] = $"{i}" })).ToList();
        // With a 5 s window, only full batches go out before shutdown flushes the last partial one.
        await Deadline.UntilAsync(() => server.SubmitRequests >= 3, "three full batches were posted");
        await executor.ShutdownAsync().Within();

        Assert.Equal([10, 10, 10, 5], server.Submits.Select(s => s.Tasks.Count));
        Assert.All(submitted, s => Assert.True(s.Result.IsCompletedSuccessfully));
        Assert.Equal(35, submitted.Select(s => s.TaskId).Distinct().Count());
    }

    [Fact]
    public async Task A_failed_task_faults_with_TaskFailedException_carrying_its_result()
    {
        var executor = new Executor(client, "ep1");
        await using var stop = executor.Bounded();

        var ok = executor.Submit(function, new Dictionary<string, string> { ["n"] = "1" });
        var tracked = executor.SubmitTracked(function, new Dictionary<string, string> { ["fail"] = "yes" });

        var failure = await Assert.ThrowsAsync<TaskFailedException>(() => tracked.Result.Within());
        Assert.Equal("walltime of 1s exceeded", failure.Result.Error);
        Assert.Equal(tracked.TaskId, failure.TaskId);
        Assert.Contains("walltime of 1s exceeded", failure.Message);
        Assert.Equal(TaskStatus.Failed, (await tracked.Completion).Status);
        Assert.Equal("n=1\n", (await ok.Within()).Stdout);
    }

    [Fact]
    public async Task A_nonzero_return_code_is_the_servers_success_and_completes_the_task()
    {
        var executor = new Executor(client, "ep1");
        await using var stop = executor.Bounded();
        var result = await executor.Submit(function, new Dictionary<string, string> { ["rc"] = "3" }).Within();
        Assert.Equal(3, result.ReturnCode);
    }

    [Fact]
    public async Task A_rejected_batch_faults_every_submission_in_it_with_the_problem()
    {
        // One batch of all five, whenever the submission loop wakes: without a window it may send the first alone.
        var executor = new Executor(client, StandInApiServer.ForbiddenEndpoint,
            options: new ExecutorOptions { MaxBatchSize = 5, BatchWindow = TimeSpan.FromSeconds(30) });
        await using var stop = executor.Bounded();

        var submitted = Enumerable.Range(0, 5).Select(_ => executor.SubmitTracked(function)).ToList();

        foreach (var task in submitted)
        {
            var error = await Assert.ThrowsAsync<MepApiException>(() => task.Result.Within());
            Assert.Equal(403, error.Status);
            Assert.Equal($"identity {StandInApiServer.Identity} does not map to a local account on endpoint {StandInApiServer.ForbiddenEndpoint}", error.Message);
            await Assert.ThrowsAsync<MepApiException>(() => task.Accepted);
            Assert.Null(task.TaskId);
        }

        Assert.Equal(1, server.SubmitRequests);
    }

    [Fact]
    public async Task Dispose_flushes_pending_submissions_and_waits_for_their_results()
    {
        var executor = new Executor(client, "ep1", options: new ExecutorOptions { BatchWindow = TimeSpan.FromSeconds(30) });
        var submitted = Enumerable.Range(0, 3).Select(i => executor.SubmitTracked(function, new Dictionary<string, string> { ["n"] = $"{i}" })).ToList();
        Assert.Equal(0, server.SubmitRequests); // still inside the (long) batch window

        await executor.DisposeAsync().AsTask().Within();

        Assert.Equal(1, server.SubmitRequests);
        Assert.All(submitted, s => Assert.Equal(TaskStatus.Success, s.Completion.Result.Status));
    }

    [Fact]
    public async Task Shutting_down_with_nothing_outstanding_always_returns()
    {
        // Races the end of the submission loop against the status loop going idle, many times over.
        server.PollsUntilDone = 1;
        var fast = new ExecutorOptions { BatchWindow = TimeSpan.Zero, MinPollInterval = TimeSpan.FromMilliseconds(1) };
        for (var i = 0; i < 300; i++)
        {
            var executor = new Executor(client, "ep1", options: fast);
            if (i % 2 == 0)
            {
                await executor.SubmitTracked(function).Completion.Within();
            }

            await executor.DisposeAsync().AsTask().Within(5);
        }
    }

    [Fact]
    public async Task Shutdown_without_waiting_cancels_outstanding_tasks_and_refuses_new_ones()
    {
        server.Hold = true;
        var executor = new Executor(client, "ep1");
        var tracked = executor.SubmitTracked(function);
        await tracked.Accepted.Within();

        await executor.ShutdownAsync(waitForResults: false).Within();

        Assert.True(tracked.Completion.IsCanceled);
        Assert.Throws<ObjectDisposedException>(() => executor.SubmitTracked(function));
        Assert.Equal(0, executor.OutstandingCount);
        await executor.DisposeAsync();
    }

    [Fact]
    public async Task Status_rounds_back_off_while_nothing_changes()
    {
        server.Hold = true;
        var options = new ExecutorOptions { MinPollInterval = TimeSpan.FromMilliseconds(20), MaxPollInterval = TimeSpan.FromMilliseconds(320) };
        var executor = new Executor(client, "ep1", options: options);
        var tracked = executor.SubmitTracked(function);

        await Deadline.UntilAsync(() => server.StatusRequests >= 7, "seven status rounds happened");
        var times = server.StatusTimes;
        var gaps = times.Zip(times.Skip(1), (a, b) => b - a).ToList();
        // Gaps of 40, 80, 160, 320, 320, 320 ms (each the least a delay can take): the later ones are clearly longer.
        Assert.True(gaps[4] >= TimeSpan.FromMilliseconds(250), $"fifth gap {gaps[4].TotalMilliseconds} ms");
        Assert.True(gaps[5] >= TimeSpan.FromMilliseconds(250), $"sixth gap {gaps[5].TotalMilliseconds} ms");
        Assert.True(gaps[0] < gaps[4], $"first gap {gaps[0].TotalMilliseconds} ms, fifth {gaps[4].TotalMilliseconds} ms");

        server.Hold = false;
        await tracked.Result.Within();
        await executor.DisposeAsync().AsTask().Within();
    }

    [Fact]
    public async Task A_restarting_server_is_asked_again_and_the_task_still_completes()
    {
        server.FailNextStatusRequests(3);
        var executor = new Executor(client, "ep1");
        await using var stop = executor.Bounded();

        var result = await executor.Submit(function, new Dictionary<string, string> { ["n"] = "7" }).Within();

        Assert.Equal("n=7\n", result.Stdout);
        Assert.True(server.StatusRequests >= 3 + server.PollsUntilDone);
    }

    [Fact]
    public async Task A_token_refused_while_waiting_faults_outstanding_tasks_instead_of_hanging()
    {
        server.Hold = true;
        var executor = new Executor(client, "ep1");
        await using var stop = executor.Bounded();
        var tracked = executor.SubmitTracked(function);
        await tracked.Accepted.Within();

        server.RevokeToken();

        var error = await Assert.ThrowsAsync<MepApiException>(() => tracked.Result.Within());
        Assert.Equal(401, error.Status);
        Assert.Contains("The token expired", error.Message);
    }
}
