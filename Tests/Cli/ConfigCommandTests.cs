using System.Text.Json.Nodes;
using Mep.Grains.UserConfig;
using Mep.Tests.UserConfig;
using Xunit;

namespace Mep.Tests.Cli;

/// <summary><c>mep config render</c>, against the example endpoint's files and files an admin might get wrong.</summary>
public sealed class ConfigCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mep-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Example(string name) => Path.Combine(ConfigTemplateTests.RepoRoot(), "examples", "endpoint", name);

    private string Write(string name, string content)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    private static Task<CliRun> Render(params string[] args) => CliRunner.RunAsync(["config", "render", .. args]);

    [Fact]
    public async Task The_example_renders_the_users_values_and_validates()
    {
        var run = await Render("--template", Example("user_config_template.yaml.j2"), "--schema", Example("user_config_schema.json"),
            "--user-config", """{"label":"big runs","max_workers_per_node":8,"worker_init":"module load x\nengine: {}"}""", "--validate");

        Assert.True(run.ExitCode == 0, run.ToString());
        var config = YamlToJson.Convert(run.Stdout);
        Assert.Equal("big runs", config["display_name"]!.GetValue<string>());
        Assert.Equal(8, config["engine"]!["max_workers_per_node"]!.GetValue<long>());
        Assert.Equal("module load x\nengine: {}", config["engine"]!["provider"]!["worker_init"]!.GetValue<string>());
        Assert.Empty(run.Stderr);
    }

    [Fact]
    public async Task A_schema_violation_is_the_users_fault_exit_1_with_one_line()
    {
        var run = await Render("--template", Example("user_config_template.yaml.j2"), "--schema", Example("user_config_schema.json"),
            "--user-config", """{"max_workers_per_node":"many"}""");

        Assert.Equal(1, run.ExitCode);
        Assert.Equal(["mep: user_endpoint_config.max_workers_per_node: must be an integer"], run.StderrLines);
        Assert.Empty(run.Stdout);
    }

    [Fact]
    public async Task A_name_the_user_did_not_give_is_the_users_fault_and_named()
    {
        // The template requires an account and has no default for it: the user must supply one.
        var template = Write("required.yaml.j2", "engine:\n  provider:\n    type: slurm\n    account: {{ account }}\n");
        var run = await Render("--template", template, "--user-config", "{}");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("'account' is undefined", Assert.Single(run.StderrLines));
        Assert.Empty(run.Stdout);
    }

    [Fact]
    public async Task A_reserved_option_is_the_users_fault()
    {
        var run = await Render("--template", Example("user_config_template.yaml.j2"), "--user-config", """{"_GC":{"mapped_identity":{}}}""");

        Assert.Equal(1, run.ExitCode);
        Assert.StartsWith("mep: user_endpoint_config._GC: is a reserved name", Assert.Single(run.StderrLines));
    }

    [Fact]
    public async Task User_config_that_is_not_a_json_object_is_the_users_fault()
    {
        var run = await Render("--template", Example("user_config_template.yaml.j2"), "--user-config", "[1]");

        Assert.Equal(1, run.ExitCode);
        Assert.Equal(["mep: --user-config must be a JSON object ({...})"], run.StderrLines);
    }

    [Fact]
    public async Task An_invalid_schema_is_the_admins_fault_exit_2()
    {
        var schema = Write("schema.json", """{"type": "object", "properties": {"a": {"$ref": "#/definitions/missing"}}}""");
        var run = await Render("--template", Example("user_config_template.yaml.j2"), "--schema", schema, "--user-config", "{}");

        Assert.Equal(2, run.ExitCode);
        Assert.Equal([$"mep: {schema}: not a valid JSON schema: #/properties/a/$ref: #/definitions/missing does not point to anything in the schema"], run.StderrLines);
    }

    [Fact]
    public async Task An_invalid_template_is_the_admins_fault_exit_2()
    {
        var template = Write("t.yaml.j2", "a: {% if x %}1");
        var run = await Render("--template", template, "--user-config", "{}");

        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith($"mep: {template}", Assert.Single(run.StderrLines));
    }

    [Fact]
    public async Task A_missing_template_is_the_admins_fault()
    {
        var run = await Render("--template", Path.Combine(_dir, "nope.j2"), "--user-config", "{}");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("nope.j2", Assert.Single(run.StderrLines));
    }

    [Fact]
    public async Task Validate_names_the_key_the_model_refuses_and_still_prints_the_yaml()
    {
        var template = Write("t.yaml.j2", "engine:\n  provider:\n    type: slurm\n    max_blocks: {{ blocks }}\n    colour: red");
        var run = await Render("--template", template, "--user-config", """{"blocks":2}""", "--validate");

        Assert.Equal(1, run.ExitCode);
        Assert.Equal(["mep: the rendered config is not valid: engine.provider.colour: is not a known setting"], run.StderrLines);
        Assert.Contains("max_blocks: 2", run.Stdout);

        var negative = await Render("--template", template, "--user-config", """{"blocks":-1}""");
        Assert.Equal(0, negative.ExitCode); // without --validate the model is not consulted
    }

    [Fact]
    public async Task User_reads_the_mapped_identity_from_the_node()
    {
        var template = Write("t.yaml.j2", "uname: {{ _GC.mapped_identity.local.uname }}\nuid: {{ _GC.mapped_identity.local.uid }}\ngroups: {{ _GC.mapped_identity.local.groups }}");
        var run = await Render("--template", template, "--user-config", "{}", "--user", "root");

        Assert.True(run.ExitCode == 0, run.ToString());
        var config = YamlToJson.Convert(run.Stdout);
        Assert.Equal("root", config["uname"]!.GetValue<string>());
        Assert.Equal(0, config["uid"]!.GetValue<long>());
        Assert.Contains("root", config["groups"]!.AsArray().Select(g => g!.GetValue<string>()));
    }

    [Fact]
    public async Task Mapped_identity_runtime_and_parent_config_come_from_the_options()
    {
        var template = Write("t.yaml.j2", "id: {{ _GC.mapped_identity.identity.id }}\nsdk: {{ _GC.user_runtime.mep_sdk_version }}\nsite: {{ _GC.parent_config.display_name }}");
        var parent = Write("config.yaml", "display_name: Big Iron\nidle_timeout: 5m\n");
        var run = await Render("--template", template, "--user-config", "{}",
            "--mapped-identity", """{"local":{"uname":"ada"},"identity":{"id":"abc"}}""", "--runtime", """{"mep_sdk_version":"1.2.3"}""", "--parent-config", parent);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("""{"id":"abc","sdk":"1.2.3","site":"Big Iron"}""", YamlToJson.Convert(run.Stdout).ToJsonString());
    }

    [Fact]
    public async Task Mapped_identity_and_user_together_are_a_usage_error()
    {
        var run = await Render("--template", Example("user_config_template.yaml.j2"), "--user-config", "{}", "--user", "root", "--mapped-identity", "{}");

        Assert.Equal(2, run.ExitCode);
        Assert.Equal(["mep: give --mapped-identity or --user, not both"], run.StderrLines);
    }
}
