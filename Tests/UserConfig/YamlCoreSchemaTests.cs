using System.Text.Json.Nodes;
using Mep.Grains.UserConfig;
using Xunit;

namespace Mep.Tests.UserConfig;

/// <summary>Plain scalars resolve by the YAML 1.2 core schema, not 1.1 (where yes/no/on/off are booleans).</summary>
public sealed class YamlCoreSchemaTests
{
    private static JsonNode? Value(string scalar) => YamlToJson.Convert($"v: {scalar}")["v"];

    [Theory]
    [InlineData("yes")]
    [InlineData("no")]
    [InlineData("on")]
    [InlineData("off")]
    [InlineData("y")]
    [InlineData("N")]
    [InlineData("1_000")]
    [InlineData("0b101")]
    [InlineData("12:30:00")]
    [InlineData("2024-01-01")]
    [InlineData("'true'")]
    [InlineData("\"42\"")]
    [InlineData("!!str 42")]
    [InlineData("! 42")]
    public void These_stay_strings(string scalar) =>
        Assert.Equal(System.Text.Json.JsonValueKind.String, Value(scalar)!.GetValueKind());

    [Theory]
    [InlineData("true", "true")]
    [InlineData("FALSE", "false")]
    [InlineData("017", "17")]
    [InlineData("0o17", "15")]
    [InlineData("0x1F", "31")]
    [InlineData("-3", "-3")]
    [InlineData("1.5e3", "1500")]
    [InlineData(".5", "0.5")]
    [InlineData("~", "null")]
    [InlineData("", "null")]
    [InlineData("Null", "null")]
    public void Core_schema_values(string scalar, string json) =>
        Assert.Equal(json, Value(scalar)?.ToJsonString() ?? "null");

    [Theory]
    [InlineData("v: .inf", "v: .inf (infinity or not-a-number) cannot be represented; quote it for a string")]
    [InlineData("v: 99999999999999999999", "v: integer 99999999999999999999 is out of range")]
    [InlineData("v: !!binary aGk=", "v: YAML tag tag:yaml.org,2002:binary is not supported")]
    [InlineData("v: !python/object x", "v: YAML tag !python/object is not supported")]
    [InlineData("? [a]\n: 1", "rendered config: keys must be plain strings")]
    [InlineData("- 1", "rendered config must be a YAML mapping")]
    [InlineData("a: 1\n---\nb: 2", "rendered config must be one YAML document, not several")]
    public void Unrepresentable_yaml_is_refused(string yaml, string expected) =>
        Assert.Equal(expected, Assert.Throws<TemplateRenderException>(() => YamlToJson.Convert(yaml)).Message);

    [Fact]
    public void Duplicate_keys_are_refused() =>
        Assert.Contains("not valid YAML", Assert.Throws<TemplateRenderException>(() => YamlToJson.Convert("a: 1\na: 2")).Message);

    [Fact]
    public void Alias_bombs_hit_the_node_budget()
    {
        var yaml = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
        for (var i = 1; i < 8; i++)
        {
            var prev = (char)('a' + i - 1);
            var cur = (char)('a' + i);
            yaml += $"{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n";
        }

        Assert.Contains("more than 100000 values", Assert.Throws<TemplateRenderException>(() => YamlToJson.Convert(yaml)).Message);
    }

    [Fact]
    public void Anchors_within_the_budget_are_copied() =>
        Assert.Equal("""{"a":[1,2],"b":[1,2]}""", YamlToJson.Convert("a: &x [1, 2]\nb: *x").ToJsonString());
}
