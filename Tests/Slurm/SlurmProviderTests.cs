using Mep.Endpoint.Providers;
using Mep.Endpoint.Providers.Slurm;
using Mep.Protocol.Config;
using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.Slurm;

/// <summary>
/// The Slurm provider against the machine's real single-node cluster, submitting as a created user the way a UEP
/// (which runs as its user) does: the provider runs here in the test (root), its sbatch/squeue/scancel as the user.
/// </summary>
public sealed class SlurmProviderTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private readonly string _uepId = Guid.NewGuid().ToString();
    private string _user = "";
    private string _home = "";

    public async Task InitializeAsync()
    {
        _user = await SlurmCluster.CreateUserAsync("mepslurm");
        _home = (await SlurmCluster.RunAsync("getent", "passwd", _user)).Split(':')[5];
    }

    public async Task DisposeAsync()
    {
        if (_user.Length > 0)
        {
            await SlurmCluster.RunAsync("scancel", "--user=" + _user);
            await SlurmCluster.DeleteUserAsync(_user);
        }
    }

    [Fact]
    public async Task Block_RunsAsTheUser_InsideTheJob_AfterWorkerInit_AndEndsCompleted()
    {
        await using var provider = Provider(Config());
        var output = Path.Combine(_home, "block-output");
        var awkward = "it's $HOME \"quoted\"; not run";
        // $0 and $1 of the inner sh: the output file and an argument that only survives if every word was quoted.
        var script = "printf '%s\\n' \"$(id -un)\" \"$SLURM_JOB_ID\" \"$MEP_TEST_INIT\" \"$1\" > \"$0.tmp\" && mv \"$0.tmp\" \"$0\"; "
            + "while [ ! -e \"$0.stop\" ]; do sleep 0.1; done";
        var launch = await LaunchAsync("b1", "/bin/sh", "-c", script, output, awkward) with { WorkerInit = "export MEP_TEST_INIT=init-ran" };

        var block = await provider.SubmitAsync(launch, default);

        Assert.Equal(("b1", BlockState.Pending), (block.BlockId, block.State));
        Assert.True(SlurmCommands.IsJobId(block.JobId!), block.JobId);
        await UntilStateAsync(provider, "b1", BlockState.Running);
        await Poll.UntilTrue(() => Task.FromResult(File.Exists(output)), Patience, () => $"the job never wrote {output}");
        Assert.Equal([_user, block.JobId!, "init-ran", awkward], File.ReadAllLines(output));
        Assert.Equal(_user, (await SlurmCluster.RunAsync("squeue", "--noheader", "--jobs=" + block.JobId, "--format=%u")).Trim());
        Assert.Equal(_user, (await SlurmCluster.RunAsync("stat", "--format=%U", output)).Trim());

        var written = await File.ReadAllTextAsync(Path.Combine(launch.LogDirectory, SlurmBatchScript.ScriptName));
        Assert.Contains($"#SBATCH --job-name={SlurmBatchScript.JobName(_uepId, "b1")}\n", written);
        Assert.Contains("\nsrun --ntasks-per-node=1 --nodes=1 /bin/sh -c ", written);

        await File.WriteAllTextAsync(output + ".stop", "");
        var ended = await UntilStateAsync(provider, "b1", BlockState.Ended);
        Assert.Equal($"Slurm job {block.JobId} ended: COMPLETED", ended.Reason);
        Assert.Empty(await provider.PollAsync(default)); // reported ended once, then forgotten
        Assert.True(File.Exists(Path.Combine(launch.LogDirectory, $"slurm-{block.JobId}.out")), "the job's stdout is not in the block's directory");
    }

    [Fact]
    public async Task HeldBlock_IsPending_ThenRunning_AndCancelEndsIt_WithoutAReason()
    {
        await using var provider = Provider(Config(
            partition: SlurmCluster.OtherPartition, account: SlurmCluster.TestAccount, schedulerOptions: "--hold\n#SBATCH --comment=mep-test"));
        var launch = await LaunchAsync("held", "/bin/sleep", "600");

        var block = await provider.SubmitAsync(launch, default);

        // Held by the user's own option, the job cannot start until released: a Pending that is not a race.
        var polled = Assert.Single(await provider.PollAsync(default));
        Assert.Equal(BlockState.Pending, polled.State);
        Assert.Null(polled.Reason);
        var (partition, account) = Split(await SlurmCluster.RunAsync("squeue", "--noheader", "--jobs=" + block.JobId, "--format=%P|%a"));
        Assert.Equal((SlurmCluster.OtherPartition, SlurmCluster.TestAccount), (partition, account));

        await SlurmCluster.RunAsync("scontrol", "release", block.JobId!);
        await UntilStateAsync(provider, "held", BlockState.Running);

        await provider.CancelAsync(["held", "not-a-block"], default);
        await provider.CancelAsync(["held"], default); // idempotent
        var ended = await UntilStateAsync(provider, "held", BlockState.Ended);
        Assert.Null(ended.Reason);
        var state = (await SlurmCluster.RunAsync("squeue", "--noheader", "--states=all", "--jobs=" + block.JobId, "--format=%T")).Trim();
        Assert.Equal("CANCELLED", state);
    }

    [Fact]
    public async Task FailingBlock_EndsWithSlurmsAccountOfIt()
    {
        await using var provider = Provider(Config());
        var launch = await LaunchAsync("fails", "/bin/sh", "-c", "exit 3");

        var block = await provider.SubmitAsync(launch, default);

        var ended = await UntilStateAsync(provider, "fails", BlockState.Ended);
        Assert.StartsWith($"Slurm job {block.JobId} ended: FAILED", ended.Reason);
    }

    [Fact]
    public async Task WithoutAccounting_TheEndReasonComesFromTheQueue()
    {
        // A site without sacct (or without accounting): the provider must still see the end and say why.
        await using var provider = Provider(Config(), options => options with { Sacct = "/nonexistent/sacct" });
        var block = await provider.SubmitAsync(await LaunchAsync("no-sacct", "/bin/sh", "-c", "exit 4"), default);

        var ended = await UntilStateAsync(provider, "no-sacct", BlockState.Ended);
        Assert.Equal($"Slurm job {block.JobId} ended: FAILED (NonZeroExitCode)", ended.Reason);
    }

    [Fact]
    public async Task Queue_OfOnlyUnknownJobs_IsEmpty_NotAnError()
    {
        await SlurmCluster.EnsureStartedAsync();
        var commands = new SlurmCommands(new SlurmCommandOptions());

        Assert.Empty(await commands.QueueAsync(["999999999"], default));
    }

    [Fact]
    public async Task MissingTool_IsAProviderException_NamingIt()
    {
        await using var provider = Provider(Config(), options => options with { Sbatch = "/nonexistent/sbatch" });

        var e = await Assert.ThrowsAsync<ProviderException>(async () => await provider.SubmitAsync(await LaunchAsync("x", "/bin/true"), default));
        Assert.StartsWith("cannot run /nonexistent/sbatch", e.Message);
    }

    [Fact]
    public async Task BadPartition_OrAccount_IsRefusedBySbatch_WithItsOwnMessage()
    {
        await using var badPartition = Provider(Config(partition: "nope"));
        var e = await Assert.ThrowsAsync<ProviderException>(async () => await badPartition.SubmitAsync(await LaunchAsync("p", "/bin/true"), default));
        Assert.Contains("invalid partition specified: nope", e.Message);

        // Accounting enforces associations: an unknown account and one the user is not in are refused alike.
        foreach (var account in new[] { "nope", SlurmCluster.OtherAccount })
        {
            await using var badAccount = Provider(Config(account: account));
            e = await Assert.ThrowsAsync<ProviderException>(async () => await badAccount.SubmitAsync(await LaunchAsync("a-" + account, "/bin/true"), default));
            Assert.Contains("Invalid account or account/partition combination specified", e.Message);
            Assert.Empty(await badAccount.PollAsync(default));
        }

        Assert.Empty(await badPartition.PollAsync(default));
    }

    private static ProviderConfig Config(
        string? partition = null, string? account = null, string? schedulerOptions = null) =>
        new(ProviderType.Slurm, partition, account, SchedulerOptions: schedulerOptions,
            Exclusive: false); // the test node is shared by every test running now

    private SlurmProvider Provider(ProviderConfig config, Func<SlurmCommandOptions, SlurmCommandOptions>? adjust = null) =>
        new(config, _uepId, new SlurmCommands((adjust ?? (o => o))(new SlurmCommandOptions
        {
            Context = new BatchCommandContext
            {
                RunAsUser = _user,
                // What the launcher gives a UEP; the job inherits it from sbatch. The test runner's TMPDIR is not the user's.
                Environment = new Dictionary<string, string?>
                {
                    ["HOME"] = _home, ["USER"] = _user, ["LOGNAME"] = _user, ["TMPDIR"] = null,
                },
            },
        })));

    /// <summary>The block's log directory exists and belongs to the user, as the UEP (running as the user) makes it.</summary>
    private async Task<WorkerLaunch> LaunchAsync(string blockId, string program, params string[] arguments)
    {
        var logs = Path.Combine(_home, ".mep", "endpoints", _uepId, "blocks", blockId);
        await SlurmCluster.RunAsync("runuser", "-u", _user, "--", "mkdir", "-p", "-m", "0700", logs);
        return new WorkerLaunch(blockId, program, arguments, null, logs);
    }

    private static async Task<BlockInfo> UntilStateAsync(SlurmProvider provider, string blockId, BlockState state)
    {
        var seen = new List<BlockState>();
        return await Poll.Until(
            async () =>
            {
                var block = (await provider.PollAsync(default)).SingleOrDefault(b => b.BlockId == blockId);
                if (block is not null)
                {
                    seen.Add(block.State);
                }

                return block?.State == state ? block : null;
            },
            Patience,
            () => $"block {blockId} never reached {state}; states seen: {string.Join(", ", seen.Distinct())}");
    }

    private static (string, string) Split(string line)
    {
        var parts = line.Trim().Split('|');
        return (parts[0], parts[1]);
    }
}
