using Mep.Protocol.Shell;
using Xunit;

namespace Mep.Tests.Grains;

public sealed class ShellCommandTests
{
    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("", "''")]
    [InlineData("a b", "'a b'")]
    [InlineData("it's", "'it'\\''s'")]
    [InlineData("'; rm -rf /; '", "''\\''; rm -rf /; '\\'''")]
    [InlineData("$(id)`id`", "'$(id)`id`'")]
    public void Quote_makes_one_literal_word(string input, string expected) => Assert.Equal(expected, ShellQuote.Quote(input));

    [Fact]
    public void Render_fills_quoted_arguments_and_keeps_literal_braces() =>
        Assert.Equal("echo 'a b' {x} c", ShellCommand.Render("echo {msg} {{x}} {other}", new Dictionary<string, string> { ["msg"] = "a b", ["other"] = "c" }));

    [Fact]
    public void Render_names_a_missing_or_unused_argument()
    {
        Assert.Equal("argument 'msg' is missing", Assert.Throws<FormatException>(() => ShellCommand.Render("echo {msg}", new Dictionary<string, string>())).Message);
        Assert.Equal("argument 'typo' is not used by the command", Assert.Throws<FormatException>(() => ShellCommand.Render("id -u", new Dictionary<string, string> { ["typo"] = "1" })).Message);
    }

    [Theory]
    [InlineData("echo {")]
    [InlineData("echo }")]
    [InlineData("echo {a b}")]
    [InlineData("echo {1x}")]
    public void Malformed_templates_are_rejected(string template) =>
        Assert.Throws<FormatException>(() => ShellCommand.Placeholders(template));
}
