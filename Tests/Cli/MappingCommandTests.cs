using System.Text.Json.Nodes;
using Xunit;

namespace Mep.Tests.Cli;

/// <summary><c>mep mapping test</c>, against files as an admin would write them.</summary>
public sealed class MappingCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mep-mapping-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string content)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    private string Mapping => Write("mapping.json", """
        [{"DATA_TYPE":"expression_identity_mapping#1.0.0","mappings":[{"source":"{username}","match":"(.*)@uni\\.edu","output":"{0}"}]}]
        """);

    [Fact]
    public async Task A_mapped_set_prints_the_username_identity_and_candidates_as_json_and_exits_0()
    {
        var identities = Write("ids.json", """
            {"DATA_TYPE":"identity_mapping_input#1.0.0","identities":[
              {"id":"a1","username":"dee@other.org"},{"id":"a2","username":"dee@uni.edu"}]}
            """);
        var run = await CliRunner.RunAsync(new Dictionary<string, string>(), "mapping", "test", "--mapping", Mapping, "--identities", identities, "--json");

        Assert.Equal(0, run.ExitCode);
        var json = JsonNode.Parse(run.Stdout)!.AsObject();
        Assert.Equal("dee", json["username"]!.GetValue<string>());
        Assert.Equal("a2", json["identity_id"]!.GetValue<string>());
        Assert.Single(json["candidates"]!.AsArray());
    }

    [Fact]
    public async Task No_mapping_exits_1_with_a_null_username()
    {
        var identities = Write("ids.json", """[{"id":"b1","username":"eve@other.org"}]""");
        var run = await CliRunner.RunAsync(new Dictionary<string, string>(), "mapping", "test", "--mapping", Mapping, "--identities", identities, "--json");

        Assert.Equal(1, run.ExitCode);
        Assert.Null(JsonNode.Parse(run.Stdout)!["username"]);
    }

    [Fact]
    public async Task An_invalid_mapping_file_exits_2_naming_the_rule_on_stderr()
    {
        var bad = Write("bad.json", """
            [{"DATA_TYPE":"expression_identity_mapping#1.0.0","mappings":[{"source":"{username}","match":"*x","output":"{0}"}]}]
            """);
        var identities = Write("ids.json", """[{"id":"c1","username":"f@uni.edu"}]""");
        var run = await CliRunner.RunAsync(new Dictionary<string, string>(), "mapping", "test", "--mapping", bad, "--identities", identities);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("document [0].mappings[0]", run.Stderr);
        Assert.Equal("", run.Stdout);
    }
}
