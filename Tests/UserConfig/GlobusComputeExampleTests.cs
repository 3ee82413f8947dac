using System.Text.Json.Nodes;
using Xunit;
using static Mep.Tests.UserConfig.ConfigTemplateTests;

namespace Mep.Tests.UserConfig;

/// <summary>
/// Equivalents of the template examples in Globus Compute's documentation (written here, with _GC for the reserved
/// variables), each rendered and the parsed YAML compared with what Globus Compute would produce.
/// </summary>
public sealed class GlobusComputeExampleTests
{
    private static void AssertYaml(string expectedJson, JsonObject actual) =>
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expectedJson), actual), $"got {actual.ToJsonString()}");

    private const string DefaultTemplate = """
        endpoint_setup: {{ endpoint_setup|default() }}
        engine:
          type: GlobusComputeEngine
          max_workers_per_node: 1
          provider:
            type: LocalProvider
            min_blocks: 0
            max_blocks: 1
            init_blocks: 1
            worker_init: {{ worker_init|default() }}

        idle_heartbeats_soft: 10
        idle_heartbeats_hard: 5760
        """;

    [Fact]
    public void The_default_template_without_options_leaves_setup_and_init_empty() => AssertYaml("""
        {"endpoint_setup":null,"engine":{"type":"GlobusComputeEngine","max_workers_per_node":1,
         "provider":{"type":"LocalProvider","min_blocks":0,"max_blocks":1,"init_blocks":1,"worker_init":null}},
         "idle_heartbeats_soft":10,"idle_heartbeats_hard":5760}
        """, Render(DefaultTemplate));

    [Fact]
    public void The_default_template_takes_the_users_setup_and_init() => AssertYaml("""
        {"endpoint_setup":"module load a; echo 'x: y'","engine":{"type":"GlobusComputeEngine","max_workers_per_node":1,
         "provider":{"type":"LocalProvider","min_blocks":0,"max_blocks":1,"init_blocks":1,"worker_init":"conda activate\nenv"}},
         "idle_heartbeats_soft":10,"idle_heartbeats_hard":5760}
        """, Render(DefaultTemplate, """{"endpoint_setup":"module load a; echo 'x: y'","worker_init":"conda activate\nenv"}"""));

    [Fact]
    public void A_required_value_must_be_given()
    {
        const string template = "engine:\n  provider:\n    type: SlurmProvider\n    account: {{ ACCOUNT_ID }}\n";
        Assert.Contains("'ACCOUNT_ID' is undefined", RenderFails(template).Message);
        AssertYaml("""{"engine":{"provider":{"type":"SlurmProvider","account":"abc123"}}}""", Render(template, """{"ACCOUNT_ID":"abc123"}"""));
    }

    private const string EnvironmentTemplate = """
        engine:
          type: GlobusComputeEngine
          provider:
            type: SlurmProvider
        {% if environment == '"test"' %}
            partition: test
            worker_init: "source test_setup.sh"
            walltime: 00:01:00
        {% else %}
            partition: default
            worker_init: "source normal_setup.sh"
            walltime: 00:30:00
        {% endif %}
        """;

    [Theory]
    [InlineData("test", "test", "source test_setup.sh", "00:01:00")]
    [InlineData("prod", "default", "source normal_setup.sh", "00:30:00")]
    public void If_else_on_an_environment_option(string environment, string partition, string init, string walltime) => AssertYaml("""
        {"engine":{"type":"GlobusComputeEngine","provider":{"type":"SlurmProvider","partition":"@partition@",
         "worker_init":"@init@","walltime":"@walltime@"}}}
        """.Replace("@partition@", partition).Replace("@init@", init).Replace("@walltime@", walltime),
        Render(EnvironmentTemplate, new JsonObject { ["environment"] = environment }.ToJsonString()));

    private const string SiteAccountTemplate = """
        engine:
          type: GlobusComputeEngine
          max_workers_per_node: {{ WORKERS_PER_NODE|default(2) }}
          provider:
            type: SlurmProvider
            partition: {{ PARTITION|default("cpu") }}
            account: {{ ACCOUNT_ID }}
            nodes_per_block: {{ NODES_PER_BLOCK|default(1) }}
            walltime: {{ WALLTIME|default("00:30:00") }}
            scheduler_options: {{ SCHEDULER_OPTIONS|default() }}
            worker_init: {{ WORKER_INIT|default() }}
        """;

    [Fact]
    public void A_site_account_with_defaults() => AssertYaml("""
        {"engine":{"type":"GlobusComputeEngine","max_workers_per_node":2,"provider":{"type":"SlurmProvider","partition":"cpu",
         "account":"proj-42","nodes_per_block":1,"walltime":"00:30:00","scheduler_options":null,"worker_init":null}}}
        """, Render(SiteAccountTemplate, """{"ACCOUNT_ID":"proj-42"}"""));

    [Fact]
    public void A_site_account_with_every_value_given() => AssertYaml("""
        {"engine":{"type":"GlobusComputeEngine","max_workers_per_node":64,"provider":{"type":"SlurmProvider","partition":"gpu",
         "account":"proj-42","nodes_per_block":4,"walltime":"01:00:00","scheduler_options":"#SBATCH --gres=gpu:1",
         "worker_init":"module load cuda"}}}
        """, Render(SiteAccountTemplate, """
        {"ACCOUNT_ID":"proj-42","WORKERS_PER_NODE":64,"PARTITION":"gpu","NODES_PER_BLOCK":4,"WALLTIME":"01:00:00",
         "SCHEDULER_OPTIONS":"#SBATCH --gres=gpu:1","WORKER_INIT":"module load cuda"}
        """));

    private const string GroupTemplate = """
        engine:
          type: GlobusComputeEngine
          provider:
            type: SlurmProvider
        {% if 1001 in _GC.mapped_identity.local.groups %}
            partition: {{ partition }}
        {% else %}
            partition: default
        {% endif %}
        """;

    [Theory]
    [InlineData("[100, 1001]", "gpu")]
    [InlineData("[100]", "default")]
    public void Group_membership_chooses_the_partition(string groups, string partition) => AssertYaml("""
        {"engine":{"type":"GlobusComputeEngine","provider":{"type":"SlurmProvider","partition":"@partition@"}}}
        """.Replace("@partition@", partition), Render(GroupTemplate, """{"partition":"gpu"}""",
        """{"mapped_identity":{"local":{"uname":"alice","uid":1000,"gid":100,"groups":@groups@},"identity":{"id":"abc"}}}""".Replace("@groups@", groups)));

    private const string PythonTemplate = """
        endpoint_setup: {{ endpoint_setup|default() }}
        engine:
          type: GlobusComputeEngine
          provider:
             type: LocalProvider
          {% if '3.13' in _GC.user_runtime.python_version %}
             worker_init: conda activate py313
          {% elif '3.12' in _GC.user_runtime.python_version %}
             worker_init: conda activate py312
          {% else %}
             worker_init: conda activate py310
          {% endif %}
        """;

    [Theory]
    [InlineData("3.13.1 (main, Dec 3 2024) [GCC 13.2.0]", "conda activate py313")]
    [InlineData("3.12.7 | packaged by conda-forge |", "conda activate py312")]
    [InlineData("3.9.0", "conda activate py310")]
    public void The_python_version_from_the_runtime_chooses_the_environment(string version, string init) => AssertYaml("""
        {"endpoint_setup":null,"engine":{"type":"GlobusComputeEngine","provider":{"type":"LocalProvider","worker_init":"@init@"}}}
        """.Replace("@init@", init), Render(PythonTemplate, gc: new JsonObject { ["user_runtime"] = new JsonObject { ["python_version"] = version } }.ToJsonString()));
}
