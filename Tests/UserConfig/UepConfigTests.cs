using System.Text.Json.Nodes;
using Mep.Grains.UserConfig;
using Mep.Protocol.Config;
using Xunit;

namespace Mep.Tests.UserConfig;

public sealed class UepConfigTests
{
    private static UepConfig Read(string yaml) => UepConfigReader.Read(YamlToJson.Convert(yaml));

    private static string Error(string yaml) => Assert.Throws<UepConfigException>(() => Read(yaml)).Message;

    [Fact]
    public void A_full_slurm_config_reads_with_globus_compute_names()
    {
        var c = Read("""
            display_name: gpu runs
            engine:
              type: GlobusComputeEngine
              max_workers_per_node: 8
              prefetch_capacity: 3
              provider:
                type: SlurmProvider
                partition: gpu
                account: "1234"
                qos: normal
                walltime: "01:30:00"
                nodes_per_block: 2
                init_blocks: 0
                min_blocks: 0
                max_blocks: 4
                worker_init: module load cuda
                scheduler_options: "#SBATCH --gres=gpu:1"
            endpoint_setup: echo setup
            endpoint_teardown: echo teardown
            idle_heartbeats_soft: 10
            idle_heartbeats_hard: 5760
            heartbeat_period: 30
            allowed_functions: [6a1f3c52-8d0e-4b7a-9c39-2f5e1d7b4a10]
            """);
        Assert.Equal("gpu runs", c.DisplayName);
        Assert.Equal((8, 3), (c.Engine.MaxWorkersPerNode, c.Engine.PrefetchCapacity));
        Assert.Equal(new ProviderConfig(ProviderType.Slurm, "gpu", "1234", "normal", "01:30:00", 2, 0, 0, 4, "module load cuda", "#SBATCH --gres=gpu:1"), c.Engine.Provider);
        Assert.Equal(("echo setup", "echo teardown"), (c.EndpointSetup, c.EndpointTeardown));
        Assert.Equal((10, 5760, 30.0), (c.IdleHeartbeatsSoft, c.IdleHeartbeatsHard, c.HeartbeatPeriod));
        Assert.Equal([Guid.Parse("6a1f3c52-8d0e-4b7a-9c39-2f5e1d7b4a10")], c.AllowedFunctions!);
    }

    [Theory]
    [InlineData("local", ProviderType.Local)]
    [InlineData("LocalProvider", ProviderType.Local)]
    [InlineData("slurm", ProviderType.Slurm)]
    [InlineData("SlurmProvider", ProviderType.Slurm)]
    public void Provider_types_and_their_aliases(string type, ProviderType expected) =>
        Assert.Equal(expected, Read($"engine:\n  provider:\n    type: {type}").Engine.Provider!.Type);

    [Fact]
    public void An_empty_config_is_all_defaults() => Assert.Equal(UepConfig.Empty, Read(""));

    [Theory]
    [InlineData("max_workers_per_node: 2", "max_workers_per_node: is not a known setting")]
    [InlineData("engine:\n  provider:\n    type: local\n    colour: red", "engine.provider.colour: is not a known setting")]
    [InlineData("engine:\n  provider:\n    type: slurm\n    max_blocks: -1", "engine.provider.max_blocks: must be a non-negative integer, got -1")]
    [InlineData("engine:\n  provider:\n    type: slurm\n    max_blocks: '3'", "engine.provider.max_blocks: must be a non-negative integer, got \"3\"")]
    [InlineData("engine:\n  provider:\n    type: slurm\n    nodes_per_block: 0", "engine.provider.nodes_per_block: must be an integer of at least 1, got 0")]
    [InlineData("engine:\n  provider:\n    type: slurm\n    min_blocks: 3\n    max_blocks: 2", "engine.provider.min_blocks: must not exceed max_blocks (2)")]
    [InlineData("engine:\n  provider:\n    type: pbs", "engine.provider.type: must be local or slurm, got \"pbs\"")]
    [InlineData("engine:\n  provider:\n    max_blocks: 1", "engine.provider.type: is required (local or slurm)")]
    [InlineData("engine:\n  provider:\n    type: local\n    partition: gpu", "engine.provider.partition: is a Slurm setting; the local provider has none")]
    [InlineData("engine:\n  provider:\n    type: slurm\n    walltime: an hour", "engine.provider.walltime: must be a Slurm time limit such as 30, 01:00:00 or 2-00:00:00")]
    [InlineData("engine:\n  provider:\n    type: slurm\n    account: 1234", "engine.provider.account: must be a string, got 1234")]
    [InlineData("engine:\n  max_workers_per_node: 0", "engine.max_workers_per_node: must be an integer from 1 to 65535, got 0")]
    [InlineData("engine:\n  prefetch_capacity: -1", "engine.prefetch_capacity: must be an integer from 0 to 65535, got -1")]
    [InlineData("engine:\n  type: HighThroughputEngine", "engine.type: must be GlobusComputeEngine (the only engine), got \"HighThroughputEngine\"")]
    [InlineData("engine: [1]", "engine: must be a mapping, got [1]")]
    [InlineData("heartbeat_period: -5", "heartbeat_period: must be a positive number of seconds up to a week, got -5")]
    [InlineData("allowed_functions: [abc]", "allowed_functions[0]: must be a function id (UUID), got \"abc\"")]
    [InlineData("idle_heartbeats_soft: yes", "idle_heartbeats_soft: must be a non-negative integer, got \"yes\"")]
    public void Errors_name_the_key_path(string yaml, string expected) => Assert.Equal(expected, Error(yaml));

    [Fact]
    public void The_model_round_trips_through_the_protocol_dialect()
    {
        var c = Read("engine:\n  max_workers_per_node: 3\n  provider:\n    type: slurm\n    max_blocks: 2");
        var json = Mep.Protocol.ProtocolJson.Serialize(c);
        Assert.Contains("\"max_workers_per_node\":3", json);
        Assert.Contains("\"type\":\"slurm\"", json);
        Assert.Equal(c.Engine.Provider, Mep.Protocol.ProtocolJson.Deserialize<UepConfig>(json).Engine.Provider);
    }

    [Fact]
    public void The_example_template_renders_a_valid_config()
    {
        var template = ConfigTemplate.Load(Path.Combine(Mep.Tests.UserConfig.ConfigTemplateTests.RepoRoot(), "examples/endpoint/user_config_template.yaml.j2"));
        var c = UepConfigReader.Read(YamlToJson.Convert(template.Render(JsonNode.Parse("""{"label":"mine","worker_init":"x\ny: 1"}""")!.AsObject())));
        Assert.Equal("mine", c.DisplayName);
        Assert.Equal(2, c.Engine.MaxWorkersPerNode);
        Assert.Equal(new ProviderConfig(ProviderType.Local, WorkerInit: "x\ny: 1"), c.Engine.Provider);
    }
}
