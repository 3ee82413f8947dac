using System.Diagnostics;
using System.Text.Json.Nodes;
using Mep.Grains.UserConfig;
using Mep.Grains.UserConfig.Templating;
using Xunit;
using static Mep.Tests.UserConfig.ConfigTemplateTests;

namespace Mep.Tests.UserConfig;

public sealed class TemplateSandboxTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("mep-template-").FullName;
    private readonly string _dir;

    public TemplateSandboxTests()
    {
        _dir = Path.Combine(_root, "endpoint");
        Directory.CreateDirectory(Path.Combine(_dir, "parts"));
        File.WriteAllText(Path.Combine(_root, "secret.yaml"), "secret: {{ 'leaked' }}");
        File.WriteAllText(Path.Combine(_dir, "parts", "slurm.yaml"), "partition: {{ partition | default('cpu') }}{# jinja inside #}");
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static string RenderFile(string path, string options = "{}") =>
        ConfigTemplate.Load(path).Render(JsonNode.Parse(options)!.AsObject());

    [Fact]
    public void Include_reads_a_file_of_the_templates_directory_with_the_same_variables()
    {
        var path = Write("t.yaml.j2", "a: 1\n{% include 'parts/slurm.yaml' %}\n");
        Assert.Equal("a: 1\npartition: \"gpu\"", RenderFile(path, """{"partition":"gpu"}"""));
        Assert.Equal("a: 1\npartition: cpu", RenderFile(path));
    }

    [Theory]
    [InlineData("../secret.yaml")]
    [InlineData("parts/../../secret.yaml")]
    [InlineData("/etc/passwd")]
    [InlineData("./parts/slurm.yaml")]
    public void Include_outside_the_directory_is_refused(string name)
    {
        var e = Assert.Throws<TemplateRenderException>(() => RenderFile(Write("t.yaml.j2", $"{{% include '{name}' %}}")));
        Assert.Contains("only a relative path inside the template's directory", e.Message);
        Assert.DoesNotContain("leaked", e.Message);
    }

    [Fact]
    public void Include_through_a_symbolic_link_leading_out_is_refused()
    {
        File.CreateSymbolicLink(Path.Combine(_dir, "link.yaml"), Path.Combine(_root, "secret.yaml"));
        Directory.CreateSymbolicLink(Path.Combine(_dir, "linkdir"), _root);
        foreach (var name in new[] { "link.yaml", "linkdir/secret.yaml" })
        {
            var e = Assert.Throws<TemplateRenderException>(() => RenderFile(Write("t.yaml.j2", $"{{% include '{name}' %}}")));
            Assert.Contains("leads outside the template's directory", e.Message);
        }

        // A link that stays inside is followed.
        File.CreateSymbolicLink(Path.Combine(_dir, "inside.yaml"), Path.Combine(_dir, "parts", "slurm.yaml"));
        Assert.Equal("partition: cpu", RenderFile(Write("t.yaml.j2", "{% include 'inside.yaml' %}")));
    }

    [Fact]
    public void A_template_parsed_from_text_cannot_include() =>
        Assert.Contains("no directory to include from", RenderFails("{% include 'x.yaml' %}").Message);

    [Fact]
    public void Include_cannot_recurse_forever()
    {
        var path = Write("loop.yaml.j2", "x{% include 'loop.yaml.j2' %}");
        Assert.Throws<TemplateRenderException>(() => RenderFile(path));
    }

    [Fact]
    public void Rendering_stops_at_the_time_limit()
    {
        var template = ConfigTemplate.Parse(
            "{% for i in (1..9000) %}{% assign s = s | append: big %}{% assign n = s | size %}{% endfor %}",
            limits: new TemplateLimits { Timeout = TimeSpan.FromMilliseconds(50), MaxOutputChars = 1_000_000_000 });
        var watch = Stopwatch.StartNew();
        var e = Assert.Throws<TemplateRenderException>(() => template.Render(new JsonObject { ["s"] = "", ["big"] = new string('x', 100_000) }));
        Assert.Contains("rendering took longer than 0.05 s", e.Message);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
    }

    [Fact]
    public void Rendering_stops_at_the_output_limit()
    {
        var e = RenderFails("{% for i in (1..5000) %}0123456789012345678901234567890123456789012345678901234567890123456789{% endfor %}");
        Assert.Contains("rendered config exceeds 262144 characters", e.Message);
    }

    [Fact]
    public void Loops_stop_at_the_loop_limit() =>
        Assert.Contains("LoopLimit", RenderFails("{% for i in (1..20000) %}{% endfor %}").Message);

    [Theory]
    [InlineData("{{ s.Length }}")]
    [InlineData("{{ l.Count }}")]
    [InlineData("{{ o.GetType }}")]
    [InlineData("{{ o.__class__ }}")]
    public void No_dotnet_member_is_reachable(string template)
    {
        var e = RenderFails(template, """{"s":"abc","l":[1],"o":{}}""");
        Assert.DoesNotContain("System.", e.Message);
    }
}
