using Mep.Endpoint.Providers;
using Mep.Endpoint.Providers.Slurm;
using Mep.Protocol.Config;
using Xunit;

namespace Mep.Tests.Slurm;

/// <summary>The batch script a block is submitted with: directives, worker_init, the srun line, and what is refused.</summary>
public sealed class SlurmBatchScriptTests
{
    private const string UepId = "0f3c2a9e-5b1d-4c7e-9a20-7d4e1f6b8c33";

    private static readonly WorkerLaunch Launch = new(
        "7", "/opt/mep/bin/mep-endpoint", ["worker", "--document", "/home/ann/.mep/endpoints/x/worker.json", "--block", "7"],
        null, "/home/ann/.mep/endpoints/x/blocks/7");

    private static ProviderConfig Slurm(
        string? partition = null, string? account = null, string? qos = null, string? walltime = null, int? nodes = null,
        string? workerInit = null, string? schedulerOptions = null, bool? exclusive = null) =>
        new(ProviderType.Slurm, partition, account, qos, walltime, nodes, WorkerInit: workerInit,
            SchedulerOptions: schedulerOptions, Exclusive: exclusive);

    private static string[] Lines(string script) => script.Split('\n');

    private static string[] Directives(string script) => Lines(script).Where(l => l.StartsWith("#SBATCH", StringComparison.Ordinal)).ToArray();

    [Fact]
    public void AllSettings_BecomeDirectives_InOrder_BeforeAnyCommand()
    {
        var script = SlurmBatchScript.Render(
            Slurm("debug", "proj42", "high", "01:30:00", 3, schedulerOptions: "--constraint=knl\n#SBATCH --mem=4G"), UepId, Launch);

        Assert.StartsWith("#!/bin/bash\n", script);
        Assert.Equal(
            [
                "#SBATCH --job-name=mep-0f3c2a9e-7",
                "#SBATCH --output=/home/ann/.mep/endpoints/x/blocks/7/slurm-%j.out",
                "#SBATCH --error=/home/ann/.mep/endpoints/x/blocks/7/slurm-%j.err",
                "#SBATCH --nodes=3",
                "#SBATCH --ntasks-per-node=1",
                "#SBATCH --partition=debug",
                "#SBATCH --account=proj42",
                "#SBATCH --qos=high",
                "#SBATCH --time=01:30:00",
                "#SBATCH --exclusive",
                "#SBATCH --constraint=knl",
                "#SBATCH --mem=4G",
            ],
            Directives(script));

        // sbatch stops reading directives at the first command: every directive must come before it.
        var lines = Lines(script);
        var lastDirective = Array.FindLastIndex(lines, l => l.StartsWith("#SBATCH", StringComparison.Ordinal));
        var firstCommand = Array.FindIndex(lines, l => l.Length > 0 && !l.StartsWith('#'));
        Assert.True(lastDirective < firstCommand, script);
        Assert.Equal(
            "srun --ntasks-per-node=1 --nodes=3 /opt/mep/bin/mep-endpoint worker --document /home/ann/.mep/endpoints/x/worker.json --block 7",
            lines[firstCommand]);
    }

    [Fact]
    public void Defaults_OneNode_Exclusive_NoOptionalDirectives()
    {
        var directives = Directives(SlurmBatchScript.Render(Slurm(), UepId, Launch));

        Assert.Contains("#SBATCH --nodes=1", directives);
        Assert.Contains("#SBATCH --exclusive", directives);
        Assert.DoesNotContain(directives, d => d.Contains("--partition") || d.Contains("--account") || d.Contains("--qos") || d.Contains("--time"));
    }

    [Fact]
    public void ExclusiveFalse_SharesTheNode()
    {
        Assert.DoesNotContain("#SBATCH --exclusive", Directives(SlurmBatchScript.Render(Slurm(exclusive: false), UepId, Launch)));
    }

    [Fact]
    public void WorkerInit_RunsAfterTheDirectives_AndBeforeSrun_Verbatim()
    {
        var init = "module load python/3.12\nconda activate \"my env\"\n";
        var lines = Lines(SlurmBatchScript.Render(Slurm(workerInit: init), UepId, Launch));

        var module = Array.IndexOf(lines, "module load python/3.12");
        var conda = Array.IndexOf(lines, "conda activate \"my env\"");
        var srun = Array.FindIndex(lines, l => l.StartsWith("srun ", StringComparison.Ordinal));
        Assert.True(module > 0 && conda == module + 1 && srun > conda, string.Join('\n', lines));
    }

    [Fact]
    public void WorkerInit_OfTheLaunch_WinsOverTheConfigs()
    {
        var script = SlurmBatchScript.Render(Slurm(workerInit: "echo from-config"), UepId, Launch with { WorkerInit = "echo from-launch" });

        Assert.Contains("\necho from-launch\n", script);
        Assert.DoesNotContain("from-config", script);
    }

    [Fact]
    public void WorkerArguments_AreQuoted_WordByWord()
    {
        var launch = Launch with { Program = "/opt/my tools/mep-endpoint", Arguments = ["worker", "it's $HOME; rm -rf /", "a\nb", ""] };

        var srun = Lines(SlurmBatchScript.Render(Slurm(), UepId, launch)).Single(l => l.StartsWith("srun ", StringComparison.Ordinal));

        // The newline inside an argument is within single quotes, so the srun "line" spans two lines of text.
        var script = SlurmBatchScript.Render(Slurm(), UepId, launch);
        Assert.Contains("srun --ntasks-per-node=1 --nodes=1 '/opt/my tools/mep-endpoint' worker 'it'\\''s $HOME; rm -rf /' 'a\nb' ''\n", script);
        Assert.StartsWith("srun --ntasks-per-node=1 --nodes=1 '/opt/my tools/mep-endpoint' worker 'it'\\''s", srun);
    }

    [Theory]
    [InlineData("debug\n#SBATCH --uid=0")]
    [InlineData("debug --account=other")]
    [InlineData("debug\0")]
    [InlineData("debug\n")]
    [InlineData("")]
    public void Partition_ThatWouldLeaveItsLine_IsRefused_NamingTheSetting(string partition)
    {
        var e = Assert.Throws<ProviderException>(() => SlurmBatchScript.Render(Slurm(partition: partition), UepId, Launch));
        Assert.StartsWith("engine.provider.partition: ", e.Message);
    }

    [Theory]
    [InlineData("account", "proj\necho owned")]
    [InlineData("qos", "normal high")]
    [InlineData("walltime", "1:00:00\nrm -rf ~")]
    [InlineData("walltime", "01:00:00\n")]
    public void OtherValues_WithNewlinesOrBlanks_AreRefused(string key, string value)
    {
        var config = key switch
        {
            "account" => Slurm(account: value),
            "qos" => Slurm(qos: value),
            _ => Slurm(walltime: value),
        };

        var e = Assert.Throws<ProviderException>(() => new SlurmProvider(config, UepId, new SlurmCommands(new SlurmCommandOptions())));
        Assert.StartsWith($"engine.provider.{key}: ", e.Message);
    }

    [Fact]
    public void SchedulerOptions_BareOptionsArePrefixed_DirectivesKept_BlankLinesSkipped()
    {
        Assert.Equal(
            ["#SBATCH --constraint=knl", "#SBATCH --mem=4G", "#SBATCH\t--gres=gpu:1"],
            SlurmBatchScript.SchedulerLines("  --constraint=knl\r\n\n#SBATCH --mem=4G\n#SBATCH\t--gres=gpu:1\n"));
    }

    [Theory]
    [InlineData("--mem=4G\nrm -rf ~", 2)]
    [InlineData("echo hi", 1)]
    [InlineData("# a comment", 1)]
    [InlineData("--mem=4G\n--x=\0y", 2)]
    [InlineData("--mem=4G\r--qos=x", 1)]
    public void SchedulerOptions_LinesThatAreNotOptions_AreRefused_WithTheLineNumber(string options, int line)
    {
        var e = Assert.Throws<ProviderException>(() => SlurmBatchScript.Render(Slurm(schedulerOptions: options), UepId, Launch));
        Assert.StartsWith("engine.provider.scheduler_options: ", e.Message);
        Assert.Contains($"line {line} ", e.Message);
    }

    [Theory]
    [InlineData("/home/ann/my logs/7")]
    [InlineData("/home/ann/100%/7")]
    [InlineData("relative/7")]
    [InlineData("/home/ann/a\nb")]
    public void LogDirectory_SlurmCouldNotUse_IsRefused(string directory)
    {
        var e = Assert.Throws<ProviderException>(() => SlurmBatchScript.Render(Slurm(), UepId, Launch with { LogDirectory = directory }));
        Assert.Contains("log directory", e.Message);
    }

    [Fact]
    public void NulInWorkerInitOrArguments_IsRefused()
    {
        Assert.Throws<ProviderException>(() => SlurmBatchScript.Render(Slurm(workerInit: "module load x\0"), UepId, Launch));
        Assert.Throws<ProviderException>(() => SlurmBatchScript.Render(Slurm(), UepId, Launch with { WorkerInit = "module load x\0" }));
        Assert.Throws<ProviderException>(() => SlurmBatchScript.Render(Slurm(), UepId, Launch with { Arguments = ["worker\0--evil"] }));
    }

    [Fact]
    public void JobName_KeepsOnlySafeCharacters()
    {
        Assert.Equal("mep-0f3c2a9e-block7x", SlurmBatchScript.JobName(UepId, "block 7\n$x"));
    }
}
