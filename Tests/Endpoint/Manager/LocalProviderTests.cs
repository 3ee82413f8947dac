using Xunit;
using Mep.Endpoint.Providers;
using Mep.Endpoint.Providers.Local;
using Mep.Tests.Infrastructure;

namespace Mep.Tests.Endpoint.Manager;

/// <summary>Local blocks are real child processes: worker_init runs in their shell, cancel reaches the whole group.</summary>
public sealed class LocalProviderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mep-local-provider-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private WorkerLaunch Launch(string id, string? workerInit, params string[] script) =>
        new(id, "/bin/sh", ["-c", .. script], workerInit, Path.Combine(_dir, id));

    private static async Task<BlockInfo> WaitForEnd(LocalProvider provider, string id) =>
        await Poll.Until(async () => (await provider.PollAsync(default)).FirstOrDefault(b => b.BlockId == id && b.State == BlockState.Ended),
            TimeSpan.FromSeconds(30), () => $"block {id} never ended");

    [Fact]
    public async Task Worker_init_runs_in_the_workers_shell_and_output_goes_to_the_block_logs()
    {
        await using var provider = new LocalProvider(TimeSpan.FromSeconds(5));
        // The program's argv arrives intact (spaces, quotes, $): it is never shell text.
        var info = await provider.SubmitAsync(Launch("b1", "export FROM_INIT='set by init'", "echo \"$FROM_INIT\" \"$0\"; echo oops >&2", "arg with 'quotes' $HOME"), default);
        Assert.Equal(BlockState.Running, info.State);

        var ended = await WaitForEnd(provider, "b1");
        Assert.Equal("worker exited with status 0", ended.Reason);
        Assert.Equal("set by init arg with 'quotes' $HOME\n", await File.ReadAllTextAsync(Path.Combine(_dir, "b1", "worker.out")));
        Assert.Equal("oops\n", await File.ReadAllTextAsync(Path.Combine(_dir, "b1", "worker.err")));
        // Reported once, then forgotten.
        Assert.DoesNotContain(await provider.PollAsync(default), b => b.BlockId == "b1");
    }

    [Fact]
    public async Task A_failing_worker_init_ends_the_block_with_its_status()
    {
        await using var provider = new LocalProvider(TimeSpan.FromSeconds(5));
        await provider.SubmitAsync(Launch("b1", "echo 'module: not found' >&2; exit 7", "echo never"), default);
        var ended = await WaitForEnd(provider, "b1");
        Assert.Equal("worker exited with status 7", ended.Reason);
        Assert.Equal("", await File.ReadAllTextAsync(Path.Combine(_dir, "b1", "worker.out")));
    }

    [Fact]
    public async Task Cancel_stops_the_whole_process_group_and_is_not_reported_as_a_failure()
    {
        await using var provider = new LocalProvider(TimeSpan.FromSeconds(5));
        var pidFile = Path.Combine(_dir, "child.pid");
        // The worker starts a grandchild that ignores nothing: cancel must reach it through the group.
        await provider.SubmitAsync(Launch("b1", null, $"sleep 300 & echo $! > {pidFile}; wait"), default);
        var child = int.Parse((await Poll.Until(async () => File.Exists(pidFile) && (await File.ReadAllTextAsync(pidFile)).EndsWith('\n') ? await File.ReadAllTextAsync(pidFile) : null,
            TimeSpan.FromSeconds(30), () => "the block never started its child")).Trim());

        await provider.CancelAsync(["b1"], default);
        var ended = await WaitForEnd(provider, "b1");
        Assert.Null(ended.Reason);
        Assert.True(await Poll.TryUntilAsync(() => !Directory.Exists($"/proc/{child}") || File.ReadAllText($"/proc/{child}/stat").Contains(") Z "), TimeSpan.FromSeconds(30)),
            "the block's grandchild outlived the cancel");
    }

    [Fact]
    public async Task A_worker_that_ignores_sigterm_is_killed_after_the_grace_period()
    {
        await using var provider = new LocalProvider(TimeSpan.FromMilliseconds(300));
        var ready = Path.Combine(_dir, "ready");
        await provider.SubmitAsync(Launch("b1", null, $"trap '' TERM; touch {ready}; while :; do sleep 1; done"), default);
        Assert.True(await Poll.TryUntilAsync(() => File.Exists(ready), TimeSpan.FromSeconds(30)));
        await provider.CancelAsync(["b1"], default);
        var ended = await WaitForEnd(provider, "b1");
        Assert.Null(ended.Reason);
    }
}
