using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Mep.Protocol;
using Mep.Protocol.Api;
using Xunit;

namespace Mep.Tests.EndToEnd;

/// <summary>The rendered user endpoint config through the real site: the model's errors and allowed_functions.</summary>
[Collection(SiteCollection.Name)]
public sealed class UserConfigTests(SiteFixture site)
{
    private async Task<(HttpStatusCode Status, string Detail)> SubmitAsync(HttpClient client, Guid function, JsonObject config)
    {
        var response = await client.PostAsJsonAsync(
            $"v1/endpoints/{SiteFixture.ConfiguredEndpointId}/submit",
            new SubmitRequest([new TaskSubmission(function)], config, new JsonObject { ["note"] = "e2e" }),
            ProtocolJson.Options);
        var problem = response.IsSuccessStatusCode ? null : await response.Content.ReadFromJsonAsync<Problem>(ProtocolJson.Options);
        return (response.StatusCode, problem?.Detail ?? "");
    }

    [Fact]
    public async Task A_rendered_value_the_model_refuses_is_a_400_naming_the_key()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var function = await SiteApi.RegisterAsync(alice, "true");

        var (status, detail) = await SubmitAsync(alice, function, new JsonObject { ["workers"] = 0, ["fns"] = new JsonArray() });

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.EndsWith("engine.max_workers_per_node: must be an integer from 1 to 65535, got 0", detail);
    }

    [Fact]
    public async Task The_configs_allowed_functions_narrow_the_endpoints()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var function = await SiteApi.RegisterAsync(alice, "true");
        var other = Guid.NewGuid();

        var (status, detail) = await SubmitAsync(alice, function, new JsonObject { ["workers"] = 1, ["fns"] = new JsonArray(other.ToString()) });

        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal($"function {function} is not in the user endpoint config's allowed_functions", detail);
        Assert.Empty((await SiteApi.GetAsync<EndpointView>(alice, $"v1/endpoints/{SiteFixture.ConfiguredEndpointId}")).UserEndpoints);
    }

    [Fact]
    public async Task A_config_built_from_gc_variables_runs_its_task()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var function = await SiteApi.RegisterAsync(alice, "id -un");
        var response = await SiteApi.PostAsync<SubmitResponse>(alice, $"v1/endpoints/{SiteFixture.ConfiguredEndpointId}/submit",
            new SubmitRequest([new TaskSubmission(function)], new JsonObject { ["workers"] = 1, ["fns"] = new JsonArray(function.ToString()) }));

        var done = await SiteApi.WaitForResultAsync(site, alice, response.TaskIds[0]);
        Assert.Equal(Mep.Protocol.Api.TaskStatus.Success, done.Status);
        Assert.Equal(site.Alice.Name, done.Result!.Stdout.Trim());
    }
}
