using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Mep.Protocol;
using Mep.Protocol.Api;
using Mep.Protocol.Messages;
using Xunit;

namespace Mep.Tests.EndToEnd;

/// <summary>Python functions at the real silo's API: registration, and the arguments a task of each kind may take.</summary>
[Collection(SiteCollection.Name)]
public sealed class PythonFunctionApiTests(SiteFixture site)
{
    private const string Source = "def add(a, b=0):\n    return a + b\n";

    [Fact]
    public async Task A_registered_python_function_shows_its_kind_entry_and_source()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var created = await SiteApi.PostAsync<FunctionView>(alice, "v1/functions/python", new RegisterPythonFunctionRequest(Source, "add", WalltimeSeconds: 45));

        using var bob = site.ClientFor(site.BobIdentity);
        var response = await bob.GetAsync($"v1/functions/{created.FunctionId}");
        var raw = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, raw);
        Assert.Contains("\"kind\":\"python\"", raw);
        var seen = ProtocolJson.Deserialize<FunctionView>(raw);
        Assert.Equal((FunctionKind.Python, "add", "add", Source, "", 45.0), (seen.Kind, seen.Name, seen.Entry, seen.Source, seen.Command, seen.WalltimeSeconds));
        Assert.Empty(seen.Arguments);
        Assert.Equal((created.FunctionId, created.RegisteredAt), (seen.FunctionId, seen.RegisteredAt));
    }

    [Theory]
    [InlineData("", "add", "source: must not be empty")]
    [InlineData("  \n", "add", "source: must not be empty")]
    [InlineData("def add():\n    return '\0'\n", "add", "source: contains a NUL character, which Python does not accept in source")]
    [InlineData(Source, "", "entry: must not be empty")]
    [InlineData(Source, "my-func", "entry: 'my-func' is not a Python identifier")]
    [InlineData(Source, "2fast", "entry: '2fast' is not a Python identifier")]
    [InlineData(Source, "lambda", "entry: 'lambda' is a Python keyword")]
    public async Task A_bad_python_function_is_refused_naming_the_field(string source, string entry, string detail)
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        Assert.Equal(detail, await RefusedAsync(alice, "v1/functions/python", new RegisterPythonFunctionRequest(source, entry)));
    }

    [Fact]
    public async Task Oversized_or_incomplete_registrations_are_refused_naming_the_field()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var huge = "x = 1\n" + new string('#', Mep.Protocol.Python.PythonSource.MaxSourceBytes);
        Assert.Equal($"source: larger than {Mep.Protocol.Python.PythonSource.MaxSourceBytes} bytes (UTF-8)",
            await RefusedAsync(alice, "v1/functions/python", new RegisterPythonFunctionRequest(huge, "f")));

        using var missing = new StringContent("""{"source":"def f():\n    pass\n"}""", Encoding.UTF8, "application/json");
        var response = await alice.PostAsync("v1/functions/python", missing);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("entry", (await response.Content.ReadFromJsonAsync<Problem>(ProtocolJson.Options))!.Detail);
    }

    [Fact]
    public async Task Each_kind_of_function_takes_only_its_own_kind_of_arguments()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var python = (await SiteApi.PostAsync<FunctionView>(alice, "v1/functions/python", new RegisterPythonFunctionRequest(Source, "add"))).FunctionId;
        var shell = await SiteApi.RegisterAsync(alice, "echo {word}");
        var okShell = new TaskSubmission(shell, new Dictionary<string, string> { ["word"] = "hi" });

        Assert.Equal(
            $"tasks[0].args: function {python} is a Python function; give its arguments in positional_args and keyword_args",
            await SubmitRefusedAsync(alice, new TaskSubmission(python, new Dictionary<string, string> { ["a"] = "1" })));
        Assert.Equal(
            $"tasks[1].keyword_args: function {shell} is a shell function; give its arguments in args",
            await SubmitRefusedAsync(alice, okShell, okShell with { KeywordArgs = new JsonObject { ["word"] = "hi" } }));
        Assert.Equal(
            $"tasks[2].positional_args: function {shell} is a shell function; give its arguments in args",
            await SubmitRefusedAsync(alice, new TaskSubmission(python, PositionalArgs: [1, 2]), okShell, okShell with { PositionalArgs = ["hi"] }));

        // The wrong JSON shape is caught where the body is read, with the path to it.
        using var shape = new StringContent($$$"""{"tasks":[{"function_id":"{{{python}}}","positional_args":{"a":1}}]}""", Encoding.UTF8, "application/json");
        var response = await alice.PostAsync($"v1/endpoints/{SiteFixture.EndpointId}/submit", shape);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.EndsWith("(at $.tasks[0].positional_args)", (await response.Content.ReadFromJsonAsync<Problem>(ProtocolJson.Options))!.Detail);
    }

    private static Task<string> SubmitRefusedAsync(HttpClient client, params TaskSubmission[] tasks) =>
        RefusedAsync(client, $"v1/endpoints/{SiteFixture.EndpointId}/submit", new SubmitRequest(tasks));

    private static async Task<string> RefusedAsync(HttpClient client, string path, object body)
    {
        var response = await client.PostAsync(path, JsonContent.Create(body, body.GetType(), options: ProtocolJson.Options));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"POST {path}: {(int)response.StatusCode} {text}");
        return ProtocolJson.Deserialize<Problem>(text).Detail;
    }
}
