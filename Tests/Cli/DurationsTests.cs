using Mep.Cli;
using Xunit;

namespace Mep.Tests.Cli;

public sealed class DurationsTests
{
    [Theory]
    [InlineData("90", 90)]
    [InlineData("1.5", 1.5)]
    [InlineData("500ms", 0.5)]
    [InlineData("30s", 30)]
    [InlineData("5m", 300)]
    [InlineData("12h", 43200)]
    [InlineData("1d", 86400)]
    [InlineData("1h30m", 5400)]
    [InlineData(" 2M ", 120)]
    public void Durations_parse_as_people_type_them(string text, double seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), Durations.Parse(text, "--x"));

    [Theory]
    [InlineData("")]
    [InlineData("m")]
    [InlineData("5x")]
    [InlineData("1h 30m")]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("1.2.3s")]
    public void Anything_else_is_a_usage_error_naming_the_field(string text)
    {
        var error = Assert.Throws<UsageException>(() => Durations.Parse(text, "--lifetime"));
        Assert.StartsWith($"--lifetime '{text}' ", error.Message);
    }
}
