using Xunit;
using static Mep.Tests.UserConfig.ConfigTemplateTests;

namespace Mep.Tests.UserConfig;

public sealed class StrictUndefinedTests
{
    [Theory]
    [InlineData("a: {{ account }}", "account")]
    [InlineData("a: {{ account | upcase }}", "account")]
    [InlineData("{% if account == '\"x\"' %}a{% endif %}", "account")]
    [InlineData("{% if account != 1 %}a{% endif %}", "account")]
    [InlineData("{% if account > 1 %}a{% endif %}", "account")]
    [InlineData("{% for g in account %}{{ g }}{% endfor %}", "account")]
    [InlineData("{% if 1 in account %}a{% endif %}", "account")]
    [InlineData("{% if account in l %}a{% endif %}", "account")]
    [InlineData("a: {{ o.missing }}", "o.missing")]
    [InlineData("a: {{ _GC.mapped_identity }}", "_GC.mapped_identity")]
    [InlineData("{% set a, b = account %}", "account")]
    [InlineData("{{ account | tojson }}", "account")]
    [InlineData("{{ account | shell_escape }}", "account")]
    public void Using_an_undefined_name_is_an_error_naming_it(string template, string name)
    {
        var e = RenderFails(template, """{"o":{},"l":[1]}""");
        Assert.Contains($"'{name}' is undefined", e.Message);
        Assert.StartsWith("<template>", e.Message);
    }

    [Fact]
    public void The_error_points_at_the_line_that_printed_it() =>
        Assert.Contains("<template>(3,", RenderFails("a: 1\nb: 2\nc: {{ nope }}").Message);

    [Theory]
    [InlineData("{% if account %}yes{% else %}no{% endif %}", "no")]
    [InlineData("a: {{ account | default('none') }}", "a: none")]
    [InlineData("{% if account is defined %}{{ account }}{% endif %}", "")]
    [InlineData("{% if nil == nil %}same{% endif %}", "same")]
    public void Default_is_defined_and_if_are_the_safe_ways(string template, string expected) =>
        Assert.Equal(expected, RenderText(template));

    [Fact]
    public void A_member_of_an_undefined_name_is_an_error_naming_the_name()
    {
        Assert.Contains("'account' is undefined", RenderFails("{{ account.x.y }}").Message);
        Assert.Contains("'_GC.mapped_identity' is undefined", RenderFails("{{ _GC.mapped_identity.local.uname }}").Message);
        Assert.Equal("no", RenderText("{% if account.x.y is defined %}yes{% else %}no{% endif %}"));
        Assert.Equal("7", RenderText("{{ account.x | default(7) }}"));
    }
}
