using System.Text.Json.Nodes;
using Mep.Grains.UserConfig;
using Xunit;

namespace Mep.Tests.UserConfig;

public sealed class ConfigSchemaTests
{
    private const string Nested = """
        {
          "$schema": "http://json-schema.org/draft-07/schema#",
          "type": "object",
          "additionalProperties": false,
          "required": ["account"],
          "properties": {
            "account": { "type": "string", "pattern": "^[a-z0-9_]+$" },
            "workers": { "type": "integer", "minimum": 1, "maximum": 64 },
            "env": { "type": "string", "enum": ["test", "prod"] },
            "slurm": {
              "type": "object",
              "additionalProperties": false,
              "properties": {
                "partition": { "type": "string" },
                "nodes": { "$ref": "#/definitions/count" }
              }
            },
            "modules": { "type": "array", "items": { "type": "string" }, "maxItems": 3 }
          },
          "definitions": { "count": { "type": "integer", "minimum": 1 } }
        }
        """;

    private static IReadOnlyList<string> Errors(string options) =>
        ConfigSchema.Parse(Nested).Validate(JsonNode.Parse(options)!.AsObject());

    [Fact]
    public void A_valid_config_has_no_errors() =>
        Assert.Empty(Errors("""{"account":"abc","workers":4,"env":"prod","slurm":{"partition":"gpu","nodes":2},"modules":["a","b"],"when":null}""".Replace(",\"when\":null", "")));

    [Theory]
    [InlineData("""{}""", "user_endpoint_config.account: is required")]
    [InlineData("""{"account":"abc","colour":"red"}""", "user_endpoint_config.colour: is not an allowed field")]
    [InlineData("""{"account":"abc","slurm":{"qos":"x"}}""", "user_endpoint_config.slurm.qos: is not an allowed field")]
    [InlineData("""{"account":"abc","slurm":{"nodes":0}}""", "user_endpoint_config.slurm.nodes: is below the minimum")]
    [InlineData("""{"account":"abc","slurm":{"nodes":"2"}}""", "user_endpoint_config.slurm.nodes: must be an integer")]
    [InlineData("""{"account":"abc","slurm":"gpu"}""", "user_endpoint_config.slurm: must be an object")]
    [InlineData("""{"account":5}""", "user_endpoint_config.account: must be a string")]
    [InlineData("""{"account":"a b"}""", "user_endpoint_config.account: does not match the allowed pattern")]
    [InlineData("""{"account":"abc","workers":100}""", "user_endpoint_config.workers: is above the maximum")]
    [InlineData("""{"account":"abc","workers":2.5}""", "user_endpoint_config.workers: must be an integer")]
    [InlineData("""{"account":"abc","env":"dev"}""", "user_endpoint_config.env: is not one of the allowed values")]
    [InlineData("""{"account":"abc","modules":["a",1]}""", "user_endpoint_config.modules[1]: must be a string")]
    [InlineData("""{"account":"abc","modules":["a","b","c","d"]}""", "user_endpoint_config.modules: has too many items")]
    public void Errors_name_the_path_and_the_reason(string options, string expected)
    {
        var errors = Errors(options);
        Assert.True(errors.Contains(expected), $"got: {string.Join(" | ", errors)}");
    }

    [Fact]
    public void Date_like_strings_stay_strings() =>
        Assert.Empty(Errors("""{"account":"abc","slurm":{"partition":"2024-01-01T00:00:00"}}"""));

    [Fact]
    public void No_schema_accepts_anything() =>
        Assert.Empty(ConfigSchema.AcceptAll.Validate(JsonNode.Parse("""{"anything":[1,{"x":null}]}""")!.AsObject()));

    [Theory]
    [InlineData("""{"type": 5}""", "#/type: must be one of")]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "strnig"}}}""", "#/properties/a/type: must be one of")]
    [InlineData("""{"type": "object", "properties": {"a": {"$ref": "#/definitions/nowhere"}}}""", "#/properties/a/$ref: #/definitions/nowhere does not point to anything in the schema")]
    [InlineData("""{"type": "object", "properties": {"a": {"$ref": "https://example.org/s.json"}}}""", "only references within the schema")]
    [InlineData("""{"type": "object", "properties": {"a": {"$ref": "other.json#/x"}}}""", "only references within the schema")]
    [InlineData("""{"type": "object", "required": "a"}""", "#/required: must be a list of distinct property names")]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}}""", "#/properties/a/pattern: not a valid regular expression")]
    [InlineData("""{"type": "object", "properties": {"a": {"maxLength": -1}}}""", "#/properties/a/maxLength: must be a non-negative integer")]
    [InlineData("""{"type": "object", "properties": {"a": 3}}""", "#/properties/a: a schema must be an object or a boolean")]
    [InlineData("""{"type": "object", "additionalProperties": "no"}""", "#/additionalProperties: a schema must be an object or a boolean")]
    [InlineData("""{"type": "object", "anyOf": []}""", "#/anyOf: must be a non-empty list of schemas")]
    [InlineData("""{"type": "array"}""", "#/type: a user endpoint config is an object")]
    [InlineData("""[1, 2]""", "#: a schema must be an object or a boolean")]
    [InlineData("""{"type": "object",""", "not valid JSON")]
    public void An_invalid_schema_is_refused_with_the_location(string schema, string expected)
    {
        var e = Assert.Throws<InvalidOperationException>(() => ConfigSchema.Parse(schema, "/etc/mep/ep/user_config_schema.json"));
        Assert.StartsWith("/etc/mep/ep/user_config_schema.json: not ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void An_invalid_schema_stops_the_endpoint_from_loading()
    {
        var dir = Directory.CreateTempSubdirectory("mep-schema-").FullName;
        try
        {
            Mep.Tests.Infrastructure.TestEndpoint.Write(dir, Guid.NewGuid().ToString(), TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(5), new Dictionary<string, string>());
            File.WriteAllText(Path.Combine(dir, "user_config_schema.json"), """{"type": "object", "properties": {"a": {"type": 5}}}""");
            var e = Assert.Throws<InvalidOperationException>(() =>
                Mep.Grains.Endpoints.EndpointCatalog.Load(dir, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance));
            Assert.Equal($"{dir}/user_config_schema.json: not a valid JSON schema: #/properties/a/type: must be one of string, number, integer, boolean, object, array, null (or a list of them), got 5", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Without_a_schema_file_the_endpoint_accepts_any_options()
    {
        var dir = Directory.CreateTempSubdirectory("mep-schema-").FullName;
        try
        {
            Mep.Tests.Infrastructure.TestEndpoint.Write(dir, Guid.NewGuid().ToString(), TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(5), new Dictionary<string, string>());
            var config = Path.Combine(dir, "config.yaml");
            File.WriteAllLines(config, File.ReadAllLines(config).Where(l => !l.StartsWith("user_config_schema", StringComparison.Ordinal)));
            using var endpoint = new Disposer(Mep.Grains.Endpoints.EndpointCatalog.Load(dir, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance));
            Assert.Empty(endpoint.Definition.Schema.Validate(JsonNode.Parse("""{"whatever":"x"}""")!.AsObject()));
            Assert.Equal("test endpoint", endpoint.Definition.ParentConfig["display_name"]!.GetValue<string>());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private sealed class Disposer(Mep.Grains.Endpoints.EndpointDefinition definition) : IDisposable
    {
        public Mep.Grains.Endpoints.EndpointDefinition Definition => definition;

        public void Dispose() => definition.Dispose();
    }
}
