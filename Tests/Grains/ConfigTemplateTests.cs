using System.Text.Json.Nodes;
using Mep.Grains.UserConfig;
using Xunit;

namespace Mep.Tests.Grains;

public sealed class ConfigTemplateTests
{
    private static JsonObject Render(string template, string config) =>
        YamlToJson.Convert(ConfigTemplate.Parse(template).Render(JsonNode.Parse(config)!.AsObject()));

    [Fact]
    public void A_hostile_string_stays_one_value_and_adds_no_key()
    {
        var rendered = Render("worker_init: {{ worker_init }}\nallowed_functions: []", """{"worker_init":"x\nallowed_functions: [abc]"}""");
        Assert.Equal("x\nallowed_functions: [abc]", rendered["worker_init"]!.GetValue<string>());
        Assert.Empty(rendered["allowed_functions"]!.AsArray());
        Assert.Equal(2, rendered.Count);
    }

    [Fact]
    public void Values_keep_their_types_and_template_text_is_untouched()
    {
        var text = ConfigTemplate.Parse("a: {{ n }}\nb: {{ f }}\nc: {{ s }}\nd: {{ l }}\ne: {{ o }}\nf: {{ z }}\nliteral: plain text")
            .Render(JsonNode.Parse("""{"n":64,"f":true,"s":"é","l":[1,"two"],"o":{"k":"v"},"z":null}""")!.AsObject());
        Assert.Equal("a: 64\nb: true\nc: \"\\u00E9\"\nd: [1, \"two\"]\ne: {\"k\": \"v\"}\nf: \nliteral: plain text", text);
        // A null prints nothing (Scriban skips it), which YAML reads as null again.
        Assert.Null(YamlToJson.Convert(text)["f"]);
    }

    [Fact]
    public void The_example_template_renders_defaults_and_user_values()
    {
        var template = File.ReadAllText(Path.Combine(RepoRoot(), "examples/endpoint/user_config_template.yaml.j2"));
        var defaults = Render(template, "{}");
        Assert.Equal(2, defaults["engine"]!["max_workers_per_node"]!.GetValue<long>());
        Assert.False(defaults["engine"]!["provider"]!.AsObject().ContainsKey("worker_init"));

        var custom = Render(template, """{"max_workers_per_node":8,"worker_init":"module load x"}""");
        Assert.Equal(8, custom["engine"]!["max_workers_per_node"]!.GetValue<long>());
        Assert.Equal("module load x", custom["engine"]!["provider"]!["worker_init"]!.GetValue<string>());
    }

    [Fact]
    public void One_trailing_newline_is_removed() =>
        Assert.Equal("a: 1\n", ConfigTemplate.Parse("a: 1\n\n").Render([]));

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
