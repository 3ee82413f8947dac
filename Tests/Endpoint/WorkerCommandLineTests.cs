using Mep.Endpoint.Worker;
using Xunit;

namespace Mep.Tests.Endpoint;

public sealed class WorkerCommandLineTests
{
    [Fact]
    public void Parses_document_and_block_in_any_order()
    {
        Assert.Equal(new WorkerCommandLine("/d/worker.json", "b-1"), WorkerCommandLine.Parse(["--block", "b-1", "--document", "/d/worker.json"]));
    }

    [Theory]
    [InlineData(new[] { "--block", "b" }, "--document is required")]
    [InlineData(new[] { "--document", "/x" }, "--block is required")]
    [InlineData(new[] { "--document" }, "--document needs a value")]
    [InlineData(new[] { "--document", "/x", "--document", "/y", "--block", "b" }, "--document is given twice")]
    [InlineData(new[] { "--document", "/x", "--block", "b", "--verbose" }, "unknown argument '--verbose'")]
    [InlineData(new[] { "--document", "/x", "--block", "../b" }, "--block must be")]
    [InlineData(new[] { "--document", "/x", "--block", ".hidden" }, "--block must be")]
    public void Bad_usage_names_the_option(string[] args, string message)
    {
        var e = Assert.Throws<WorkerUsageException>(() => WorkerCommandLine.Parse(args));
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData(null, null, null, "b1.0", null)]
    [InlineData("3", "7", "1234", "b1.3", "1234")]
    [InlineData(null, "2", " 99 ", "b1.2", "99")]
    [InlineData("x", null, "", "b1.0", null)]
    public void Worker_id_is_block_and_node_index(string? nodeId, string? procId, string? jobId, string workerId, string? job)
    {
        var env = new Dictionary<string, string?> { ["SLURM_NODEID"] = nodeId, ["SLURM_PROCID"] = procId, ["SLURM_JOB_ID"] = jobId };
        var placement = WorkerPlacement.FromEnvironment("b1", name => env.GetValueOrDefault(name));
        Assert.Equal(workerId, placement.WorkerId);
        Assert.Equal(job, placement.JobId);
        Assert.Equal("b1", placement.BlockId);
    }
}
