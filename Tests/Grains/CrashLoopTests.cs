using System.Globalization;
using Mep.Contracts.Model;
using Mep.Grains.Endpoints;
using Mep.Protocol.Api;
using Mep.Tests.EndToEnd;
using Mep.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.Grains;

/// <summary>
/// A user endpoint whose program exits at once (the real launcher runs a script as the user that writes to stderr and
/// exits 3): retried with a doubling delay, then failed with its tasks, which carry the exit and the stderr tail.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class CrashLoopTests(SiteFixture site) : IAsyncLifetime
{
    private const string CrashingUep = """
        #!/bin/sh
        cat > /dev/null
        date +%s.%N >> {dir}/starts
        echo "loading configuration" >&2
        echo "fatal: cannot open /nonexistent/uep.conf" >&2
        exit 3

        """;

    private LifecycleSite? _lifecycle;

    private string Starts => Path.Combine(_lifecycle!.Dir, "starts");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_lifecycle is not null)
        {
            await _lifecycle.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_user_endpoint_that_exits_at_once_is_retried_with_backoff_then_fails_its_tasks_with_the_stderr_tail()
    {
        _lifecycle = await StartAsync(extraConfig: "");
        var receipt = await _lifecycle.SubmitAsync("alice", tasks: 2);
        using var client = _lifecycle.Client("alice");

        // While backing off, the view says when the next attempt comes and why.
        var backingOff = new List<UserEndpointView>();
        var failedTasks = await Poll.Until(
            async () =>
            {
                var uep = (await client.GetEndpointAsync(_lifecycle.EndpointId)).UserEndpoints.Single();
                if (uep.NextAttemptAt is not null)
                {
                    backingOff.Add(uep);
                }

                var status = await client.GetTaskStatusAsync(receipt.TaskIds);
                return status.Tasks.Values.All(t => t.Status != ApiTaskStatus.Pending) ? status.Tasks.Values.ToList() : null;
            },
            TimeSpan.FromMinutes(1),
            () => $"tasks still pending; starts so far: {File.ReadAllLines(Starts).Length}");

        Assert.All(failedTasks, t =>
        {
            Assert.Equal(ApiTaskStatus.Failed, t.Status);
            Assert.Contains("failed to start 3 times in a row", t.Result!.Error);
            Assert.Contains("exited with code 3", t.Result.Error);
            Assert.Contains("loading configuration\nfatal: cannot open /nonexistent/uep.conf", t.Result.Error);
        });

        // Three starts, the second at least 1 s after the first, the third at least 2 s after the second.
        var starts = File.ReadAllLines(Starts).Select(l => double.Parse(l, CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(3, starts.Count);
        Assert.InRange(starts[1] - starts[0], 0.95, 30);
        Assert.InRange(starts[2] - starts[1], 1.95, 30);

        Assert.Contains(backingOff, v => v.FailedStarts == 1 && v.Reason!.Contains("start attempt 1 of 3 failed", StringComparison.Ordinal));
        Assert.Contains(backingOff, v => v.FailedStarts == 2 && v.Reason!.Contains("start attempt 2 of 3 failed", StringComparison.Ordinal));
        Assert.All(backingOff, v => Assert.Equal("stopped", v.State));

        var failed = (await client.GetEndpointAsync(_lifecycle.EndpointId)).UserEndpoints.Single();
        Assert.Equal(("failed", (DateTimeOffset?)null), (failed.State, failed.NextAttemptAt));
        Assert.Equal(failedTasks[0].Result!.Error, failed.Reason);

        // The backoff can be read from the audit log alone: each start names its attempt, each exit the attempt that
        // failed and when the next comes (1 s, then 2 s later), the last one that it gave up.
        var audit = _lifecycle.AuditEntries().Where(e => e.TryGetProperty("user_endpoint_id", out var id) && id.GetString() == receipt.UserEndpointId).ToList();
        var uepStarts = audit.Where(e => e.GetProperty("action").GetString() == "uep-start").ToList();
        var uepExits = audit.Where(e => e.GetProperty("action").GetString() == "uep-exit").ToList();
        Assert.Equal([1, 2, 3], uepStarts.Select(e => e.GetProperty("attempt").GetInt32()));
        Assert.Equal([1, 2, 3], uepExits.Select(e => e.GetProperty("attempt").GetInt32()));
        Assert.All(uepExits, e => Assert.Equal(3, e.GetProperty("exit_code").GetInt32()));
        var exitTimes = uepExits.Select(e => e.GetProperty("time").GetDateTimeOffset()).ToList();
        var nextAttempts = uepExits.Take(2).Select(e => e.GetProperty("next_attempt_at").GetDateTimeOffset()).ToList();
        Assert.InRange((nextAttempts[0] - exitTimes[0]).TotalSeconds, 0.9, 1.1);
        Assert.InRange((nextAttempts[1] - exitTimes[1]).TotalSeconds, 1.9, 2.1);
        Assert.True(uepStarts[1].GetProperty("time").GetDateTimeOffset() >= nextAttempts[0], "the second start came before its backoff ended");
        Assert.True(uepStarts[2].GetProperty("time").GetDateTimeOffset() >= nextAttempts[1], "the third start came before its backoff ended");
        Assert.Contains("start attempt 1 of 3 failed, next attempt in 1 s", uepExits[0].GetProperty("reason").GetString());
        Assert.Contains("start attempt 2 of 3 failed, next attempt in 2 s", uepExits[1].GetProperty("reason").GetString());
        Assert.Contains("start attempt 3 of 3 failed, giving up", uepExits[2].GetProperty("reason").GetString());
        Assert.False(uepExits[2].TryGetProperty("next_attempt_at", out _));

        // New work is a new round of attempts, starting at once.
        await _lifecycle.SubmitAsync("alice");
        await Poll.UntilTrue(() => Task.FromResult(File.ReadAllLines(Starts).Length >= 4), TimeSpan.FromSeconds(30), () => "no new start after a new submit");
    }

    [Fact]
    public async Task The_number_of_attempts_and_the_first_delay_come_from_the_endpoint_config()
    {
        _lifecycle = await StartAsync(extraConfig: "max_start_attempts: 2\nstart_retry_delay: 3s");
        var receipt = await _lifecycle.SubmitAsync("alice");
        var task = _lifecycle.Cluster.Client.GetGrain<Mep.Contracts.ITaskGrain>(receipt.TaskIds[0]);
        var record = await Poll.Until(
            async () => await task.Get(_lifecycle.IdentityId("alice")) is { Outcome: not null } r ? r : null,
            TimeSpan.FromMinutes(1),
            () => "task never failed");

        Assert.Contains("failed to start 2 times in a row", record.Outcome!.Error);
        var starts = File.ReadAllLines(Starts).Select(l => double.Parse(l, CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(2, starts.Count);
        Assert.InRange(starts[1] - starts[0], 2.95, 30);
        Assert.Equal(UserEndpointPhase.Failed, (await _lifecycle.Uep(receipt.UserEndpointId).GetSnapshot()).Phase);
    }

    [Fact]
    public void Lifecycle_keys_are_read_checked_and_the_backoff_doubles_up_to_its_cap()
    {
        var dir = Directory.CreateTempSubdirectory("mep-lifecycle-config-").FullName;
        try
        {
            LifecycleSettings Load(string extra)
            {
                TestEndpoint.Write(dir, Guid.NewGuid().ToString(), TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(5), new Dictionary<string, string>(), extra);
                using var endpoint = EndpointCatalog.Load(dir, NullLogger.Instance);
                return endpoint.Lifecycle;
            }

            Assert.Equal(LifecycleSettings.Default, Load(""));
            var set = Load("""
                max_start_attempts: 5
                start_retry_delay: 2s
                start_retry_delay_max: 10s
                stop_grace_period: 4s
                tasks_on_stop: fail
                max_user_endpoints_per_user: 2
                max_starts_per_minute: 7
                max_concurrent_starts: 3
                """);
            Assert.Equal(new LifecycleSettings(5, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(4), TasksOnStop.Fail, 2, 7, 3), set);
            Assert.Equal([2, 4, 8, 10, 10], Enumerable.Range(1, 5).Select(n => set.RetryDelay(n).TotalSeconds));
            Assert.Equal([1, 2, 4, 8, 16, 32, 60, 60], Enumerable.Range(1, 8).Select(n => LifecycleSettings.Default.RetryDelay(n).TotalSeconds));

            var bad = Assert.Throws<InvalidOperationException>(() => Load("tasks_on_stop: drop"));
            Assert.Contains("tasks_on_stop must be requeue or fail, not 'drop'", bad.Message);
            bad = Assert.Throws<InvalidOperationException>(() => Load("max_start_attempts: 0"));
            Assert.Contains("max_start_attempts must be between 1 and 100", bad.Message);
            bad = Assert.Throws<InvalidOperationException>(() => Load("start_retry_delay: 5s\nstart_retry_delay_max: 1s"));
            Assert.Contains("start_retry_delay_max must not be shorter", bad.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private async Task<LifecycleSite> StartAsync(string extraConfig)
    {
        var lifecycle = await LifecycleSite.StartAsync(site, new Dictionary<string, string> { ["alice"] = site.Alice.Name }, CrashingUep, extraConfig);
        // The script appends as the mapped user.
        var starts = Path.Combine(lifecycle.Dir, "starts");
        File.WriteAllText(starts, "");
        File.SetUnixFileMode(starts, (UnixFileMode)0b110_110_110);
        return lifecycle;
    }
}
