using System.Text.Json.Nodes;
using Mep.Grains.Endpoints;
using Mep.Grains.UserConfig;
using Mep.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Mep.Tests.UserConfig;

/// <summary>An endpoint's template and schema follow their files: a valid change is used next, an invalid one is not.</summary>
public sealed class ReloadTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private readonly string _dir = Directory.CreateTempSubdirectory("mep-reload-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private EndpointDefinition Load()
    {
        TestEndpoint.Write(_dir, Guid.NewGuid().ToString(), TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(5), new Dictionary<string, string>());
        return EndpointCatalog.Load(_dir, NullLogger.Instance);
    }

    private static string Render(EndpointDefinition endpoint, string options) =>
        endpoint.Template.Render(JsonNode.Parse(options)!.AsObject());

    /// <summary>Write-and-rename, as editors save.</summary>
    private void Replace(string name, string content)
    {
        var temp = Path.Combine(_dir, name + ".tmp");
        File.WriteAllText(temp, content);
        File.Move(temp, Path.Combine(_dir, name), overwrite: true);
    }

    [Fact]
    public async Task A_changed_template_is_used_and_a_broken_one_is_not()
    {
        using var endpoint = Load();
        Assert.Contains("max_workers_per_node: 2", Render(endpoint, "{}"));

        Replace("user_config_template.yaml.j2", "engine:\n  max_workers_per_node: {{ max_workers_per_node | default: 3 }}\n");
        await Poll.UntilTrue(() => Task.FromResult(Render(endpoint, "{}").Contains("max_workers_per_node: 3")), Deadline,
            () => $"the new template was not loaded (last reload error: {endpoint.TemplateFile.LastReloadError})");
        Assert.Null(endpoint.TemplateFile.LastReloadError);

        Replace("user_config_template.yaml.j2", "engine: {% if %}");
        await Poll.UntilTrue(() => Task.FromResult(endpoint.TemplateFile.LastReloadError is not null), Deadline, () => "no reload error reported");
        Assert.Contains("user_config_template.yaml.j2", endpoint.TemplateFile.LastReloadError);
        Assert.Contains("max_workers_per_node: 3", Render(endpoint, "{}"));
    }

    [Fact]
    public async Task A_changed_schema_is_used_and_an_invalid_one_is_not()
    {
        using var endpoint = Load();
        var options = JsonNode.Parse("""{"label":"x"}""")!.AsObject();
        Assert.Empty(endpoint.Schema.Validate(options));

        Replace("user_config_schema.json", """{"type":"object","additionalProperties":false,"properties":{"account":{"type":"string"}}}""");
        await Poll.UntilTrue(() => Task.FromResult(endpoint.Schema.Validate(options).Count > 0), Deadline,
            () => $"the new schema was not loaded (last reload error: {endpoint.SchemaFile!.LastReloadError})");
        Assert.Equal(["user_endpoint_config.label: is not an allowed field"], endpoint.Schema.Validate(options));

        Replace("user_config_schema.json", """{"type":"object","properties":{"account":{"type":"text"}}}""");
        await Poll.UntilTrue(() => Task.FromResult(endpoint.SchemaFile!.LastReloadError is not null), Deadline, () => "no reload error reported");
        Assert.Contains("#/properties/account/type: must be one of", endpoint.SchemaFile!.LastReloadError);
        Assert.Equal(["user_endpoint_config.label: is not an allowed field"], endpoint.Schema.Validate(options));
    }
}
