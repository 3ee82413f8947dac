using System.Text.Json.Nodes;
using Mep.Grains.UserConfig;
using Xunit;

namespace Mep.Tests.UserConfig;

public sealed class ConfigTemplateTests
{
    internal static string RenderText(string template, string options = "{}", string? gc = null) =>
        ConfigTemplate.Parse(template).Render(JsonNode.Parse(options)!.AsObject(), gc is null ? null : JsonNode.Parse(gc)!.AsObject());

    internal static JsonObject Render(string template, string options = "{}", string? gc = null) =>
        YamlToJson.Convert(RenderText(template, options, gc));

    internal static TemplateRenderException RenderFails(string template, string options = "{}") =>
        Assert.Throws<TemplateRenderException>(() => RenderText(template, options));

    [Fact]
    public void A_hostile_string_stays_one_value_and_adds_no_key()
    {
        var rendered = Render("worker_init: {{ worker_init }}\nallowed_functions: []", """{"worker_init":"x\nallowed_functions: [abc]"}""");
        Assert.Equal("x\nallowed_functions: [abc]", rendered["worker_init"]!.GetValue<string>());
        Assert.Empty(rendered["allowed_functions"]!.AsArray());
        Assert.Equal(2, rendered.Count);
    }

    [Fact]
    public void Values_are_escaped_by_type_and_template_text_is_untouched()
    {
        var text = RenderText("a: {{ n }}\nb: {{ f }}\nc: {{ s }}\nd: {{ l }}\ne: {{ o }}\nf: {{ z }}\ng: {{ d }}\nliteral: plain {text}",
            """{"n":64,"f":true,"s":"é","l":[1,"two",null],"o":{"k":"v","n":{"x":[true]}},"z":null,"d":2.5}""");
        Assert.Equal("a: 64\nb: true\nc: \"\\u00E9\"\nd: [1, \"two\", null]\ne: {\"k\": \"v\", \"n\": {\"x\": [true]}}\nf: null\ng: 2.5\nliteral: plain {text}", text);
        var yaml = YamlToJson.Convert(text);
        Assert.Null(yaml["f"]);
        Assert.Equal("two", yaml["d"]![1]!.GetValue<string>());
        Assert.True(yaml["e"]!["n"]!["x"]![0]!.GetValue<bool>());
    }

    [Fact]
    public void The_gc_argument_is_the_escaped_variable_GC()
    {
        var rendered = Render("user: {{ _GC.mapped_identity.local.uname }}\nuid: {{ _GC.mapped_identity.local.uid }}",
            gc: """{"mapped_identity":{"local":{"uname":"alice\nx: 1","uid":1001}}}""");
        Assert.Equal("alice\nx: 1", rendered["user"]!.GetValue<string>());
        Assert.Equal(1001, rendered["uid"]!.GetValue<long>());
        Assert.Equal(2, rendered.Count);
    }

    [Theory]
    [InlineData("_GC")]
    [InlineData("parent_config")]
    [InlineData("user_runtime")]
    [InlineData("mapped_identity")]
    public void A_reserved_option_name_is_refused(string name) =>
        Assert.Contains($"'{name}' is a reserved name", RenderFails("a: 1", $$"""{"{{name}}": 1}""").Message);

    [Fact]
    public void The_example_template_renders_defaults_and_user_values()
    {
        var template = ConfigTemplate.Load(Path.Combine(RepoRoot(), "examples/endpoint/user_config_template.yaml.j2"));
        var defaults = YamlToJson.Convert(template.Render([]));
        Assert.Equal(2, defaults["engine"]!["max_workers_per_node"]!.GetValue<long>());
        Assert.Equal("user endpoint", defaults["display_name"]!.GetValue<string>());
        Assert.False(defaults["engine"]!["provider"]!.AsObject().ContainsKey("worker_init"));

        var custom = YamlToJson.Convert(template.Render(JsonNode.Parse("""{"max_workers_per_node":8,"worker_init":"module load x"}""")!.AsObject()));
        Assert.Equal(8, custom["engine"]!["max_workers_per_node"]!.GetValue<long>());
        Assert.Equal("module load x", custom["engine"]!["provider"]!["worker_init"]!.GetValue<string>());
    }

    [Fact]
    public void One_trailing_newline_is_removed() =>
        Assert.Equal("a: 1\n", RenderText("a: 1\n\n"));

    [Fact]
    public void A_parse_error_names_the_file_and_line()
    {
        var e = Assert.Throws<InvalidOperationException>(() => ConfigTemplate.Parse("a: 1\nb: {% if x %}\n", "/etc/mep/t.yaml.j2"));
        Assert.Contains("/etc/mep/t.yaml.j2", e.Message);
        Assert.Contains("(2,", e.Message);

        var unclosed = Assert.Throws<InvalidOperationException>(() => ConfigTemplate.Parse("a: 1\n\nb: {{ x \n", "t.j2"));
        Assert.Contains("t.j2(3,", unclosed.Message);
    }

    [Fact]
    public void Lines_of_later_errors_stay_right_after_multi_line_comments_and_rewrites()
    {
        var e = Assert.Throws<InvalidOperationException>(() =>
            ConfigTemplate.Parse("{# one\ntwo\nthree #}\n{% if x is defined and 1 in l %}\n{% if %}\n{% endif %}", "t.j2"));
        Assert.Contains("(5,", e.Message);
    }

    internal static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Orleans.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Orleans.sln not found above the test binaries");
    }
}
