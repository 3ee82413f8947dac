using System.Text.Json.Nodes;
using Mep.Grains.UserConfig;
using Xunit;

namespace Mep.Tests.Grains;

public sealed class UserEndpointIdTests
{
    private const string Endpoint = "6a1f3c52-8d0e-4b7a-9c39-2f5e1d7b4a10";
    private const string Identity = "0b7e4a1c-2d3f-8e5a-9b6c-1d2e3f4a5b6c";

    private static string Id(string configJson, string endpoint = Endpoint, string identity = Identity) =>
        UserEndpointId.Derive(endpoint, identity, CanonicalJson.Write(JsonNode.Parse(configJson)));

    [Fact]
    public void Same_inputs_give_the_same_id_and_a_known_value()
    {
        var id = Id("""{"queue":"gpu","max_workers_per_node":64}""");
        Assert.Equal(id, Id("""{"queue":"gpu","max_workers_per_node":64}"""));

        // Pinned: a change here would orphan every user endpoint of every site after an upgrade.
        Assert.Equal("387192c9-3f23-8a25-b0bc-19f6df18f38f", Id("{}"));
    }

    [Fact]
    public void Key_order_whitespace_and_integral_number_spelling_do_not_matter()
    {
        var a = Id("""{"queue":"gpu","max_workers_per_node":64,"nested":{"b":1,"a":[1,2]}}""");
        var b = Id("""{ "nested": {"a":[1, 2], "b": 1.0}, "max_workers_per_node": 64.0, "queue": "gpu" }""");
        Assert.Equal(a, b);
    }

    [Theory]
    [InlineData("""{"queue":"gpu","label":"x"}""")]
    [InlineData("""{"queue":"cpu"}""")]
    [InlineData("""{"queue":["gpu"]}""")]
    [InlineData("""{"queue":"gpu","max_workers_per_node":null}""")]
    public void Any_change_in_the_config_gives_a_new_id(string other) =>
        Assert.NotEqual(Id("""{"queue":"gpu"}"""), Id(other));

    [Fact]
    public void Endpoint_and_identity_are_part_of_the_id()
    {
        var baseline = Id("{}");
        Assert.NotEqual(baseline, Id("{}", endpoint: "7a1f3c52-8d0e-4b7a-9c39-2f5e1d7b4a10"));
        Assert.NotEqual(baseline, Id("{}", identity: "1b7e4a1c-2d3f-8e5a-9b6c-1d2e3f4a5b6c"));
        Assert.Equal(baseline, Id("{}", endpoint: Endpoint.ToUpperInvariant()));
    }

    [Fact]
    public void The_id_is_a_version_8_uuid()
    {
        var id = Guid.Parse(Id("{}"));
        Assert.Equal(8, id.Version);
        Assert.Equal(Id("{}"), id.ToString());
    }
}
