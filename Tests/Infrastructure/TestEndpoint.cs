using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Mep.Tests.Infrastructure;

/// <summary>
/// Writes an endpoint directory for a test: the example's template and schema, a config.yaml, and an identity
/// mapping that maps each given federated username (exactly) to a local account.
/// </summary>
public static class TestEndpoint
{
    public static void Write(string dir, string endpointId, TimeSpan idleTimeout, TimeSpan heartbeatPeriod, IReadOnlyDictionary<string, string> mappings, string extraConfig = "")
    {
        Directory.CreateDirectory(dir);
        var example = Path.Combine(RabbitMqNode.RepositoryRoot(), "examples", "endpoint");
        foreach (var file in new[] { "user_config_template.yaml.j2", "user_config_schema.json" })
        {
            File.Copy(Path.Combine(example, file), Path.Combine(dir, file), overwrite: true);
        }

        File.WriteAllText(Path.Combine(dir, "config.yaml"), $"""
            endpoint_id: {endpointId}
            display_name: test endpoint
            identity_mapping: identity_mapping.json
            user_config_template: user_config_template.yaml.j2
            user_config_schema: user_config_schema.json
            idle_timeout: {idleTimeout.TotalSeconds}s
            heartbeat_period: {heartbeatPeriod.TotalSeconds}s

            """ + extraConfig + "\n");

        var rules = new JsonArray(mappings.Select(m => (JsonNode)new JsonObject
        {
            ["source"] = "{username}",
            ["match"] = Regex.Escape(m.Key),
            ["output"] = m.Value,
        }).ToArray());
        var document = new JsonArray(new JsonObject { ["DATA_TYPE"] = "expression_identity_mapping#1.0.0", ["mappings"] = rules });
        File.WriteAllText(Path.Combine(dir, "identity_mapping.json"), document.ToJsonString());
    }
}
