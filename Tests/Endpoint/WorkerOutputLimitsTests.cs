using Mep.Endpoint.Worker;
using Mep.Protocol.Launcher;
using Mep.Protocol.Messages;
using Xunit;

namespace Mep.Tests.Endpoint;

public sealed class WorkerOutputLimitsTests
{
    [Theory]
    [InlineData("", 3, "", false)]
    [InlineData("a\nb\nc\n", 3, "a\nb\nc\n", false)]
    [InlineData("a\nb\nc\nd\n", 3, "b\nc\nd\n", true)]
    [InlineData("a\nb\nc\nd", 3, "b\nc\nd", true)]
    [InlineData("a\nb\nc\nd\n", 1, "d\n", true)]
    [InlineData("a\n\n\n", 2, "\n\n", true)]
    [InlineData("no newline", 1, "no newline", false)]
    [InlineData("a\nb\n", 0, "", true)]
    public void Keeps_the_last_lines(string text, int lines, string expected, bool cut)
    {
        Assert.Equal(expected, OutputLimits.LastLines(text, lines, out var wasCut));
        Assert.Equal(cut, wasCut);
    }

    [Fact]
    public void A_result_over_the_size_limit_fails_saying_so_without_its_output()
    {
        var result = new TaskResultMessage(Guid.NewGuid(), TaskState.Success, 0, "0123456789\n", "ab", false, null,
            DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, "h", 1, "u", ReturnValue: "[1, 2]");

        var fits = OutputLimits.Apply(result, new TaskLimits(19, 10, 3));
        var over = OutputLimits.Apply(result, new TaskLimits(18, 10, 3));

        Assert.Equal(TaskState.Success, fits.State);
        Assert.Equal("[1, 2]", fits.ReturnValue);
        Assert.Equal(TaskState.Failed, over.State);
        Assert.Equal("result of 19 bytes exceeds the endpoint's limit of 18 bytes", over.Error);
        Assert.Equal("", over.Stdout);
        Assert.Null(over.ReturnValue);
        Assert.Equal(0, over.ReturnCode);
    }
}
