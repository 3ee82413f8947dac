using System.Text;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using Mep.Grains.UserConfig;
using Xunit;
using static Mep.Tests.UserConfig.ConfigTemplateTests;

namespace Mep.Tests.UserConfig;

/// <summary>Whatever a user sends, it stays the one value the template put it in.</summary>
public sealed class InjectionTests
{
    private const string Template = "worker_init: {{ v }}\nallowed_functions: []\nlist: [{{ v }}]\nflow: {a: {{ v }}}";

    private static JsonObject RenderValue(JsonNode? value) =>
        YamlToJson.Convert(ConfigTemplate.Parse(Template).Render(new JsonObject { ["v"] = value }));

    private static void AssertStaysOneValue(JsonNode? value)
    {
        var yaml = RenderValue(value?.DeepClone());
        Assert.Equal(["worker_init", "allowed_functions", "list", "flow"], yaml.Select(kv => kv.Key));
        Assert.Empty(yaml["allowed_functions"]!.AsArray());
        Assert.True(JsonNode.DeepEquals(value, yaml["worker_init"]), $"worker_init: {yaml["worker_init"]?.ToJsonString()}");
        Assert.True(JsonNode.DeepEquals(value, yaml["list"]![0]));
        Assert.Single(yaml["list"]!.AsArray());
        Assert.True(JsonNode.DeepEquals(value, yaml["flow"]!["a"]));
    }

    [Theory]
    [InlineData("x\nallowed_functions: [abc]")]
    [InlineData("x\r\nallowed_functions: [abc]\r\n")]
    [InlineData("key: value")]
    [InlineData("\"quoted\" 'single' \\\" \\")]
    [InlineData("&anchor x")]
    [InlineData("*anchor")]
    [InlineData("!!python/object:os.system [\"id\"]")]
    [InlineData("!tag x")]
    [InlineData("{{ 7 * 7 }} {% if true %}x{% endif %} {# c #}")]
    [InlineData("] , } { [ # comment")]
    [InlineData("---\nnew: document\n...")]
    [InlineData("é 日本 🙂 \u2028 \u0085 \ufeff \0 \t \b \f")]
    [InlineData("")]
    [InlineData("null")]
    [InlineData("true")]
    [InlineData("1:00:00")]
    public void A_hostile_string_stays_one_string(string value) => AssertStaysOneValue(value);

    [Fact]
    public void A_huge_string_stays_one_string() => AssertStaysOneValue(new string('x', 50_000) + "\nkey: value");

    [Fact]
    public void Structured_values_stay_themselves() =>
        AssertStaysOneValue(JsonNode.Parse("""{"a":["x\ny: 1",{"&b":"*c"}],"!!map":null,"n":-1.5e3,"t":true}"""));

    [Fact]
    public void Deep_nesting_is_refused_rather_than_rendered()
    {
        var deep = JsonNode.Parse(string.Concat(Enumerable.Repeat("[", 60)) + string.Concat(Enumerable.Repeat("]", 60)));
        var e = Assert.Throws<TemplateRenderException>(() => RenderValue(deep));
        Assert.Contains("nested more than", e.Message);
        AssertStaysOneValue(JsonNode.Parse(string.Concat(Enumerable.Repeat("[", 20)) + "\"x\"" + string.Concat(Enumerable.Repeat("]", 20))));
    }

    [Fact]
    public void Non_ascii_is_written_as_escapes()
    {
        var text = ConfigTemplate.Parse("v: {{ v }}").Render(new JsonObject { ["v"] = "é🙂\u2028" });
        Assert.Equal("v: \"\\u00E9\\uD83D\\uDE42\\u2028\"", text);
        Assert.True(text.All(char.IsAscii));
    }

    [Fact]
    public void A_hostile_key_of_an_object_stays_a_key()
    {
        var yaml = Render("o: {{ o }}", """{"o":{"a\": 1, \"b":"v","x\ny: z":1}}""");
        Assert.Single(yaml);
        Assert.Equal(["a\": 1, \"b", "x\ny: z"], yaml["o"]!.AsObject().Select(kv => kv.Key).Order(StringComparer.Ordinal));
    }

    // Strings over the characters that matter to YAML, JSON and the template, plus anything FsCheck makes up.
    private static Arbitrary<string> Text() => ArbMap.Default.GeneratorFor<string>()
        .Where(s => s is not null)
        .Select(s => s!)
        .Or(Gen.Elements("\n", "\r", "\t", " ", ":", "- ", "#", "&a", "*a", "!!", "!", "%", "@", "`", "'", "\"", "\\", "{", "}",
                "[", "]", ",", "|", ">", "?", "{{", "}}", "{%", "%}", "é", "🙂", "\u2028", "\u0085", "\ufeff", "\0", "---", "...", "null", "~")
            .ListOf().Select(parts => string.Concat(parts)))
        .Where(IsValidUtf16) // JSON from the API cannot carry a lone surrogate
        .ToArbitrary();

    private static bool IsValidUtf16(string s)
    {
        try
        {
            _ = new UTF8Encoding(false, throwOnInvalidBytes: true).GetBytes(s);
            return true;
        }
        catch (EncoderFallbackException)
        {
            return false;
        }
    }

    [Fact]
    public void Any_string_renders_and_parses_back_to_itself()
    {
        var template = ConfigTemplate.Parse("v: {{ s }}");
        Prop.ForAll(Text(), s =>
        {
            var yaml = YamlToJson.Convert(template.Render(new JsonObject { ["s"] = s }));
            return yaml.Count == 1 && yaml["v"]!.GetValue<string>() == s;
        }).QuickCheckThrowOnFailure();
    }
}
