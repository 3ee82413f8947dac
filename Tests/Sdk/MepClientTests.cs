using System.Net;
using System.Text;
using Mep.Protocol.Api;
using Mep.Sdk;
using Xunit;
using TaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.Sdk;

public sealed class MepClientTests : IAsyncLifetime
{
    private StandInApiServer server = null!;
    private MepClient client = null!;

    public async Task InitializeAsync()
    {
        server = await StandInApiServer.StartAsync();
        client = new MepClient(server.BaseAddress, StandInApiServer.Token);
    }

    public async Task DisposeAsync()
    {
        client.Dispose();
        await server.DisposeAsync();
    }

    [Fact]
    public async Task Every_call_round_trips_in_the_protocol_dialect()
    {
        var registered = await client.RegisterShellFunctionAsync("echo {greeting} {name}", "hello", 30);
        Assert.Equal(["greeting", "name"], registered.Arguments);
        var fetched = await client.GetFunctionAsync(registered.FunctionId);
        Assert.Equal((registered.FunctionId, "hello", "echo {greeting} {name}", 30.0), (fetched.FunctionId, fetched.Name, fetched.Command, fetched.WalltimeSeconds));

        var submitted = await client.SubmitAsync("ep with space", new SubmitRequest(
            [new TaskSubmission(registered.FunctionId, new Dictionary<string, string> { ["greeting"] = "hi", ["name"] = "bob" }, 5)]));
        var taskId = Assert.Single(submitted.TaskIds);

        var task = await client.GetTaskAsync(taskId);
        Assert.Equal("ep with space", task.EndpointId); // the id travelled escaped in the path
        Assert.Equal(TaskStatus.Pending, task.Status);

        var missing = Guid.NewGuid();
        var status = await client.GetTaskStatusAsync([taskId, missing]);
        Assert.Equal(taskId, status.Tasks[taskId].TaskId);
        Assert.Equal([missing], status.NotFound);

        var endpoint = await client.GetEndpointAsync("ep1");
        Assert.Equal("ep1", endpoint.EndpointId);
    }

    [Fact]
    public async Task A_problem_answer_throws_MepApiException_whose_message_is_the_detail()
    {
        var function = server.AddFunction("true");
        var error = await Assert.ThrowsAsync<MepApiException>(() =>
            client.SubmitAsync(StandInApiServer.ForbiddenEndpoint, new SubmitRequest([new TaskSubmission(function.FunctionId)])));

        Assert.Equal(403, error.Status);
        Assert.Equal("Forbidden", error.Title);
        Assert.Equal($"identity {StandInApiServer.Identity} does not map to a local account on endpoint {StandInApiServer.ForbiddenEndpoint}", error.Message);
        Assert.Equal(error.Message, error.Detail);

        var notFound = await Assert.ThrowsAsync<MepApiException>(() => client.GetTaskAsync(Guid.Empty));
        Assert.Equal(404, notFound.Status);
        Assert.Equal($"task {Guid.Empty} does not exist", notFound.Message);
    }

    [Fact]
    public async Task A_bare_401_is_explained_from_its_challenge()
    {
        using var stranger = new MepClient(server.BaseAddress, "not-the-token");
        var error = await Assert.ThrowsAsync<MepApiException>(() => stranger.GetEndpointAsync("ep1"));
        Assert.Equal(401, error.Status);
        Assert.Contains("invalid_token", error.Message);
        Assert.Contains("The token expired", error.Message);
    }

    [Fact]
    public void A_body_that_is_not_problem_json_becomes_a_problem_from_the_status_line()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.BadGateway) { ReasonPhrase = "Bad Gateway" };
        var problem = MepClient.ProblemFrom(response, Encoding.UTF8.GetBytes("<html>upstream down</html>"));
        Assert.Equal(502, problem.Status);
        Assert.Equal("Bad Gateway", problem.Title);
        Assert.Equal("Bad Gateway: <html>upstream down</html>", problem.Detail);
    }

    [Fact]
    public void A_base_address_with_a_path_prefix_keeps_it()
    {
        using var prefixed = new MepClient(new Uri("http://127.0.0.1:1/mep"), "t");
        Assert.Equal("http://127.0.0.1:1/mep/", prefixed.BaseAddress.AbsoluteUri);
    }
}
