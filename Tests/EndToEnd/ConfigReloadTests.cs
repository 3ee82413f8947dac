using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mep.Protocol.Api;
using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.EndToEnd;

/// <summary>
/// An endpoint's config.yaml edited while the real silo runs: a valid change (allowed functions, then a denied user)
/// applies to the next request with no restart; a broken file keeps the previous behaviour and shows in
/// <c>/readyz</c> (degraded, naming the file) until it is fixed.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class ConfigReloadTests(SiteFixture site)
{
    private static readonly TimeSpan ReloadTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Config_yaml_changes_apply_to_the_next_request_and_a_broken_file_keeps_the_old_one()
    {
        var configPath = Path.Combine(site.ReloadEndpointDir, "config.yaml");
        var original = await File.ReadAllTextAsync(configPath);
        using var alice = site.ClientFor(site.AliceIdentity);
        using var http = site.Tls.Client(site.ApiBase);
        var function = await SiteApi.RegisterAsync(alice, "true");
        try
        {
            Assert.Equal(HttpStatusCode.Forbidden, await SubmitAsync(alice, function));

            // Allow the function: the next submit is accepted.
            await WriteAsync(configPath, original.Replace($"allowed_functions: [{SiteFixture.OnlyFunctionId}]",
                $"allowed_functions: [{SiteFixture.OnlyFunctionId}, {function}]", StringComparison.Ordinal));
            await Poll.UntilTrue(async () => await SubmitAsync(alice, function) == HttpStatusCode.Accepted, ReloadTimeout,
                () => "the allowed_functions change was not applied");
            var allowing = await File.ReadAllTextAsync(configPath);

            // A broken file: the allowing version stays in use, and /readyz names the file.
            await WriteAsync(configPath, allowing + "\nidle_timeout: [not a duration\n");
            var degraded = (await Poll.Until(
                async () => await ReadyAsync(http) is var r && r.GetProperty("checks").GetProperty("configuration").GetProperty("status").GetString() == "degraded" ? Tuple.Create(r) : null,
                ReloadTimeout, () => "/readyz did not report the broken config.yaml")).Item1;
            Assert.Equal("degraded", degraded.GetProperty("status").GetString());
            Assert.Contains(configPath, degraded.GetProperty("checks").GetProperty("configuration").GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.Accepted, await SubmitAsync(alice, function));

            // Fixed, with Alice now denied: the policy applies to the next request, and /readyz is clean again.
            await WriteAsync(configPath, allowing + $"\ndenied_users: [{site.AliceIdentity}]\n");
            await Poll.UntilTrue(async () => await SubmitAsync(alice, function) == HttpStatusCode.Forbidden, ReloadTimeout,
                () => "the denied_users change was not applied");
            await Poll.UntilTrue(
                async () => (await ReadyAsync(http)).GetProperty("checks").GetProperty("configuration").GetProperty("status").GetString() == "ready",
                ReloadTimeout, () => "/readyz still reports the fixed config.yaml");
        }
        finally
        {
            await WriteAsync(configPath, original);
        }

        await Poll.UntilTrue(async () => await SubmitAsync(alice, function) == HttpStatusCode.Forbidden, ReloadTimeout,
            () => "the restored config.yaml was not applied");
    }

    /// <summary>Write-and-rename, as editors and configuration management tools do.</summary>
    private static async Task WriteAsync(string path, string text)
    {
        var temp = path + ".tmp";
        await File.WriteAllTextAsync(temp, text);
        File.Move(temp, path, overwrite: true);
    }

    private static async Task<HttpStatusCode> SubmitAsync(HttpClient client, Guid function)
    {
        using var response = await client.PostAsJsonAsync($"v1/endpoints/{SiteFixture.ReloadEndpointId}/submit",
            new SubmitRequest([new TaskSubmission(function)]), Mep.Protocol.ProtocolJson.Options);
        return response.StatusCode;
    }

    private static async Task<JsonElement> ReadyAsync(HttpClient http)
    {
        using var response = await http.GetAsync("readyz");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode); // degraded still serves
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }
}
