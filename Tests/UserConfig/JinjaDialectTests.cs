using System.Text.Json.Nodes;
using Xunit;
using static Mep.Tests.UserConfig.ConfigTemplateTests;

namespace Mep.Tests.UserConfig;

/// <summary>Each Jinja form of the dialect, next to the Liquid it is rewritten to.</summary>
public sealed class JinjaDialectTests
{
    [Theory]
    [InlineData(12, "big")]
    [InlineData(5, "medium")]
    [InlineData(1, "small")]
    public void Elif_chooses_the_first_true_branch(int n, string expected) =>
        Assert.Equal(expected, RenderText("{% if n > 10 %}big{% elif n > 3 %}medium{% else %}small{% endif %}", $$"""{"n":{{n}}}"""));

    [Fact]
    public void Liquid_elsif_still_works() =>
        Assert.Equal("b", RenderText("{% if false %}a{% elsif true %}b{% endif %}"));

    [Fact]
    public void Comments_are_dropped_even_with_tags_inside() =>
        Assert.Equal("a: 1\n\nb: 2", RenderText("a: 1\n{# {{ undefined_name }} {% if %} #}\nb: 2{# multi\nline #}"));

    [Fact]
    public void Comment_whitespace_control_trims_around_it() =>
        Assert.Equal("a: 1b: 2", RenderText("a: 1\n  {#- gone -#}  \nb: 2"));

    [Fact]
    public void Comment_markers_inside_string_literals_and_text_are_untouched() =>
        Assert.Equal("x: {# not a comment\n", RenderText("x: {{ '{# not a comment' }}\n\n"));

    [Fact]
    public void Set_assigns_an_expression() =>
        Assert.Equal("\"ABC\" 7", RenderText("{% set x = s | upper %}{% set y = 7 %}{{ x }} {{ y }}", """{"s":"abc"}"""));

    [Fact]
    public void Set_unpacks_a_list_into_names() =>
        Assert.Equal("1 \"two\" 3", RenderText("{% set a, b, c = l %}{{ a }} {{ b }} {{ c }}", """{"l":[1,"two",3]}"""));

    [Fact]
    public void Set_unpacking_a_list_of_the_wrong_length_is_an_error() =>
        Assert.Contains("3 names but the list has 2 items", RenderFails("{% set a, b, c = l %}", """{"l":[1,2]}""").Message);

    [Fact]
    public void Block_set_captures_text() =>
        Assert.Equal("[hello 1]", RenderText("{% set x %}hello {{ n }}{% endset %}[{{ x }}]", """{"n":1}"""));

    [Theory]
    [InlineData("{% if x is defined %}yes{% else %}no{% endif %}", """{"x":null}""", "yes")]
    [InlineData("{% if x is defined %}yes{% else %}no{% endif %}", "{}", "no")]
    [InlineData("{% if x is not defined %}yes{% else %}no{% endif %}", "{}", "yes")]
    [InlineData("{% if o.k is defined %}yes{% else %}no{% endif %}", """{"o":{"k":1}}""", "yes")]
    [InlineData("{% if o.k is defined %}yes{% else %}no{% endif %}", """{"o":{}}""", "no")]
    [InlineData("{% if x is defined and y is not defined %}yes{% else %}no{% endif %}", """{"x":1}""", "yes")]
    [InlineData("{{ x is defined }}", "{}", "false")]
    public void Is_defined_tests_a_name_without_touching_it(string template, string options, string expected) =>
        Assert.Equal(expected, RenderText(template, options));

    [Theory]
    [InlineData("{% if 1001 in groups %}yes{% else %}no{% endif %}", "yes")]
    [InlineData("{% if 7 in groups %}yes{% else %}no{% endif %}", "no")]
    [InlineData("{% if 7 not in groups %}yes{% else %}no{% endif %}", "yes")]
    [InlineData("{% if '\"b\"' in names %}yes{% else %}no{% endif %}", "yes")]
    [InlineData("{% if 'b' in names %}yes{% else %}no{% endif %}", "no")]
    [InlineData("{% if '3.12' in version %}yes{% else %}no{% endif %}", "yes")]
    [InlineData("{% if '3.13' not in version %}yes{% else %}no{% endif %}", "yes")]
    [InlineData("{% if 'k' in obj %}yes{% else %}no{% endif %}", "yes")]
    [InlineData("{% if 1001 in groups and '3.12' in version %}yes{% else %}no{% endif %}", "yes")]
    [InlineData("{% if not 1001 in groups %}yes{% else %}no{% endif %}", "no")]
    [InlineData("{% if 1001 in (groups) or 1 in groups %}yes{% else %}no{% endif %}", "yes")]
    [InlineData("{{ 1001 in groups }} {{ 2 not in groups }}", "true true")]
    [InlineData("{% set found = 1001 in groups %}{{ found }}", "true")]
    public void In_tests_membership_in_lists_strings_and_objects(string template, string expected) =>
        Assert.Equal(expected, RenderText(template, """{"groups":[100,1001],"names":["a","b"],"version":"3.12.1 (main)","obj":{"k":1}}"""));

    [Theory]
    [InlineData("{% if not x %}yes{% else %}no{% endif %}", """{"x":false}""", "yes")]
    [InlineData("{% if not x == 1 %}yes{% else %}no{% endif %}", """{"x":1}""", "no")]
    [InlineData("{% if not x and y %}yes{% else %}no{% endif %}", """{"x":false,"y":true}""", "yes")]
    public void Not_negates_up_to_and_or(string template, string options, string expected) =>
        Assert.Equal(expected, RenderText(template, options));

    [Theory]
    [InlineData("a: {{ x|default() }}", "{}", "a: ")]
    [InlineData("a: {{ x | default(5) }}", "{}", "a: 5")]
    [InlineData("a: {{ x | default('y') }}", "{}", "a: y")]
    [InlineData("a: {{ x | default(5) }}", """{"x":"v"}""", "a: \"v\"")]
    [InlineData("a: {{ x | default(5) }}", """{"x":null}""", "a: null")]
    [InlineData("a: {{ x | default: 5 }}", "{}", "a: 5")]
    [InlineData("a: {{ o.missing | default(3) }}", """{"o":{}}""", "a: 3")]
    [InlineData("a: {{ x | default(y | default(4)) }}", "{}", "a: 4")]
    public void Default_replaces_only_an_undefined_value(string template, string options, string expected) =>
        Assert.Equal(expected, RenderText(template, options));

    [Fact]
    public void Tojson_encodes_the_value_as_json()
    {
        // Like Jinja's tojson over Globus Compute's escaped values: a user string is encoded once more.
        var json = JsonNode.Parse(RenderText("{{ o | tojson }}", """{"o":{"a":[1,"x"]}}"""));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"a":[1,"\"x\""]}"""), json), json?.ToJsonString());
        Assert.Equal("a b", JsonNode.Parse(RenderText("{{ 'a b' | tojson }}"))!.GetValue<string>());
        Assert.Equal("x", Render("v: {{ 'x' | tojson }}")["v"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("abc-1.2_x@y%z+=:,./", "abc-1.2_x@y%z+=:,./")]
    [InlineData("", "''")]
    [InlineData("a b", "'a b'")]
    [InlineData("it's", "'it'\"'\"'s'")]
    [InlineData("$(rm -rf /)\n`id`", "'$(rm -rf /)\n`id`'")]
    public void Shell_escape_makes_one_shell_word_inside_one_yaml_string(string value, string word)
    {
        var options = new System.Text.Json.Nodes.JsonObject { ["v"] = value };
        var text = Mep.Grains.UserConfig.ConfigTemplate.Parse("cmd: echo {{ v | shell_escape }}").Render(options);
        // The word stays one YAML string: the JSON literal of the quoted word, after the admin's own text.
        Assert.Equal("cmd: echo " + System.Text.Json.JsonSerializer.Serialize(word,
            new System.Text.Json.JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.Default }), text);
        Assert.Equal(word, Render("cmd: {{ v | shell_escape }}", options.ToJsonString())["cmd"]!.GetValue<string>());
    }

    [Fact]
    public void Shell_escape_leaves_non_strings_alone() =>
        Assert.Equal("5 true", RenderText("{{ n | shell_escape }} {{ b | shell_escape }}", """{"n":5,"b":true}"""));

    [Fact]
    public void Whitespace_control_trims_like_jinja() =>
        Assert.Equal("a:\n  - 1\n  - 2\nb: 3", RenderText("a:\n{%- for i in l %}\n  - {{ i }}\n{%- endfor %}\nb: 3", """{"l":[1,2]}"""));

    [Fact]
    public void Jinja_filter_spellings_and_loop_work() =>
        Assert.Equal("3 \"ABC\" \"abc\" 1-2-3-", RenderText(
            "{{ l | length }} {{ s | upper }} {{ s | lower }} {% for i in l %}{{ loop.index }}-{% endfor %}", """{"l":[1,2,3],"s":"aBc"}"""));

    [Theory]
    [InlineData("{{ None }}", "")]
    [InlineData("{% if True %}t{% endif %}{% if False %}f{% endif %}", "t")]
    public void Jinja_literal_spellings(string template, string expected) =>
        Assert.Equal(expected, RenderText(template));

    [Fact]
    public void Raw_blocks_are_copied_verbatim() =>
        Assert.Equal("{{ x is defined }} {# c #} {% elif %}", RenderText("{% raw %}{{ x is defined }} {# c #} {% elif %}{% endraw %}"));

    [Fact]
    public void String_literals_inside_tags_are_not_rewritten() =>
        Assert.Equal("x is defined, 1 in l, not y, elif", RenderText("{{ 'x is defined, 1 in l, not y, elif' }}"));

    [Fact]
    public void Comparisons_see_the_escaped_form_as_in_globus_compute()
    {
        const string template = "{% if environment == '\"test\"' %}test{% else %}other{% endif %}";
        Assert.Equal("test", RenderText(template, """{"environment":"test"}"""));
        Assert.Equal("other", RenderText(template, """{"environment":"prod"}"""));
        Assert.Equal("other", RenderText("{% if environment == 'test' %}test{% else %}other{% endif %}", """{"environment":"test"}"""));
    }

    [Theory]
    [InlineData("{{ s | replace('a', 'b') }}", "\"bbc\"")]
    [InlineData("{{ l | join(', ') }}", "1, 2")]
    [InlineData("{% unless n > 1 %}small{% endunless %}", "small")]
    [InlineData("{% case n %}{% when 1 %}one{% else %}other{% endcase %}", "one")]
    [InlineData("{{ n | plus: 2 }}", "3")]
    public void Liquid_filters_take_jinja_call_syntax_and_liquid_tags_work(string template, string expected) =>
        Assert.Equal(expected, RenderText(template, """{"s":"abc","l":[1,2],"n":1}"""));
}
