using Mep.Endpoint.Providers;
using Mep.Endpoint.Providers.Slurm;
using Xunit;

namespace Mep.Tests.Slurm;

public sealed class SlurmJobStatesTests
{
    [Theory]
    [InlineData("PENDING", BlockState.Pending)]
    [InlineData("CONFIGURING", BlockState.Pending)]
    [InlineData("REQUEUED", BlockState.Pending)]
    [InlineData("SUSPENDED", BlockState.Pending)]
    [InlineData("RUNNING", BlockState.Running)]
    [InlineData("COMPLETING", BlockState.Running)]
    [InlineData("COMPLETED", BlockState.Ended)]
    [InlineData("CANCELLED by 1001", BlockState.Ended)]
    [InlineData("FAILED", BlockState.Ended)]
    [InlineData("TIMEOUT", BlockState.Ended)]
    [InlineData("NODE_FAIL", BlockState.Ended)]
    [InlineData("OUT_OF_MEMORY", BlockState.Ended)]
    [InlineData("PREEMPTED", BlockState.Ended)]
    [InlineData("running", BlockState.Running)]
    public void SlurmStates_MapToBlockStates(string slurm, BlockState expected)
    {
        Assert.Equal(expected, SlurmJobStates.ToBlockState(slurm));
    }

    [Fact]
    public void EndReason_NamesTheJob_State_FailedExitCode_AndSlurmsReason()
    {
        Assert.Equal("Slurm job 12 ended: FAILED, exit code 3:0 (NonZeroExitCode)",
            SlurmJobStates.EndReason(new SlurmJobRecord("12", "FAILED", "3:0", "NonZeroExitCode")));
        Assert.Equal("Slurm job 13 ended: COMPLETED",
            SlurmJobStates.EndReason(new SlurmJobRecord("13", "COMPLETED", "0:0", "None")));
        Assert.Equal("Slurm job 14 ended: CANCELLED by 0",
            SlurmJobStates.EndReason(new SlurmJobRecord("14", "CANCELLED by 0", "", "")));
    }

    [Fact]
    public void CommandOptions_FromEnvironment_TakeASitesPaths_AndDefaultToPath()
    {
        var options = SlurmCommandOptions.FromEnvironment(name => name switch
        {
            SlurmCommandOptions.SbatchVariable => "/opt/site/bin/sbatch-wrapper",
            SlurmCommandOptions.SacctVariable => " ",
            _ => null,
        });

        Assert.Equal(("/opt/site/bin/sbatch-wrapper", "squeue", "sacct", "scancel"), (options.Sbatch, options.Squeue, options.Sacct, options.Scancel));
    }
}
