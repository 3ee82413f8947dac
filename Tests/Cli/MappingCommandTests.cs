using System.Text.Json.Nodes;
using Mep.Identity;
using Mep.Tests.Identity;
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

    [Fact]
    public async Task An_external_program_gets_the_endpoint_id_as_s_and_its_answer_is_a_candidate()
    {
        var programs = new MappingPrograms(_dir);
        var program = programs.Answering("map", MappingPrograms.Output(("g1", "gina")));
        var mapping = Write("ext.json", MappingPrograms.Mapping(MappingPrograms.External(program)));
        var identities = Write("ids.json", """[{"id":"g1","username":"gina@uni.edu"}]""");
        var endpointId = "2b7e5c1a-0d4f-4c52-9a57-5d0f3c1e9b11";

        var run = await CliRunner.RunAsync(new Dictionary<string, string>(), "mapping", "test", "--mapping", mapping, "--identities", identities, "--endpoint-id", endpointId);

        Assert.Equal(0, run.ExitCode);
        Assert.Equal(["-c", MappingContext.PosixConnectorId, "-s", endpointId, "-a"], programs.Argv("map"));
        Assert.Contains("gina (from identity g1)", run.Stdout);
        Assert.Contains("(document 0, external program)", run.Stdout);
        Assert.Equal("", run.Stderr);
    }

    [Fact]
    public async Task A_failing_external_program_is_a_warning_on_stderr_and_the_other_documents_still_decide()
    {
        var programs = new MappingPrograms(_dir);
        var program = programs.Write("map", """
            echo "directory server down" >&2
            exit 4
            """);
        var mapping = Write("ext.json", MappingPrograms.Mapping(MappingPrograms.External(program), MappingPrograms.Expression("(.*)@uni\\.edu", "{0}")));
        var identities = Write("ids.json", """[{"id":"h1","username":"hal@uni.edu"}]""");

        var run = await CliRunner.RunAsync(new Dictionary<string, string>(), "mapping", "test", "--mapping", mapping, "--identities", identities, "--json");

        Assert.Equal(0, run.ExitCode);
        Assert.Equal("hal", JsonNode.Parse(run.Stdout)!["username"]!.GetValue<string>());
        var warning = Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("mep: warning: document [0]", warning);
        Assert.Contains("exited with code 4", warning);
        Assert.Contains("directory server down", warning);
        // Without --endpoint-id the program still gets an -s (the nil UUID).
        Assert.Equal(MappingContext.NoEndpointId, programs.Argv("map")[3]);
    }

    [Fact]
    public async Task An_external_program_that_is_not_executable_makes_the_file_invalid()
    {
        var plain = Write("plain", "#!/bin/sh\n");
        var mapping = Write("ext.json", MappingPrograms.Mapping(MappingPrograms.External(plain)));
        var identities = Write("ids.json", """[{"id":"h1","username":"hal@uni.edu"}]""");

        var run = await CliRunner.RunAsync(new Dictionary<string, string>(), "mapping", "test", "--mapping", mapping, "--identities", identities);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("document [0].command[0]", run.Stderr);
        Assert.Contains("is not executable", run.Stderr);
    }
}
