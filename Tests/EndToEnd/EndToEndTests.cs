using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mep.Protocol;
using Mep.Protocol.Api;
using Mep.Protocol.Messages;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;
using Mep.Tests.Infrastructure;
using Xunit;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.EndToEnd;

/// <summary>The whole flow of issue 2 through real processes, as root.</summary>
[Collection(SiteCollection.Name)]
public sealed class EndToEndTests(SiteFixture site)
{
    [Fact]
    public async Task Each_identity_runs_as_its_own_unix_account_and_cannot_see_the_others_tasks()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        using var bob = site.ClientFor(site.BobIdentity);
        var function = await RegisterAsync(alice, "id -u");

        var aliceSubmit = await SubmitAsync(alice, function, count: 2);
        var bobSubmit = await SubmitAsync(bob, function, count: 1);
        Assert.NotEqual(aliceSubmit.UserEndpointId, bobSubmit.UserEndpointId);

        foreach (var id in aliceSubmit.TaskIds)
        {
            var done = await WaitForResultAsync(alice, id);
            Assert.Equal(ApiTaskStatus.Success, done.Status);
            Assert.Equal(site.Alice.Uid.ToString(System.Globalization.CultureInfo.InvariantCulture), done.Result!.Stdout.Trim());
            Assert.Equal(site.Alice.Name, done.Result.Username);

            // Its timeline: accepted, queued until the user endpoint had it, handed over, (started,) done, in order.
            var states = done.Transitions.Select(t => t.State).ToList();
            Assert.Equal([TaskLifecycleState.Received, TaskLifecycleState.WaitingForEndpoint, TaskLifecycleState.WaitingForNodes], states.Take(3));
            Assert.Equal(TaskLifecycleState.Success, done.State);
            Assert.Equal(TaskLifecycleState.Success, states[^1]);
            Assert.Equal(done.CompletedAt, done.Transitions[^1].At);
            Assert.Equal(done.Transitions.OrderBy(t => t.At), done.Transitions);
        }

        var bobDone = await WaitForResultAsync(bob, bobSubmit.TaskIds[0]);
        Assert.Equal(site.Bob.Uid.ToString(System.Globalization.CultureInfo.InvariantCulture), bobDone.Result!.Stdout.Trim());

        // Bob cannot read Alice's task, one by one or in a batch; it looks exactly like a task that does not exist.
        var peek = await bob.GetAsync($"v1/tasks/{aliceSubmit.TaskIds[0]}");
        Assert.Equal(HttpStatusCode.NotFound, peek.StatusCode);
        Assert.Equal("application/problem+json", peek.Content.Headers.ContentType?.MediaType);
        var batch = await PostAsync<TaskStatusResponse>(bob, "v1/tasks/status", new TaskStatusRequest([aliceSubmit.TaskIds[0], bobSubmit.TaskIds[0]]));
        Assert.Equal([aliceSubmit.TaskIds[0]], batch.NotFound);
        Assert.True(batch.Tasks.ContainsKey(bobSubmit.TaskIds[0]));

        // Each sees only their own user endpoints.
        var bobView = await GetAsync<EndpointView>(bob, $"v1/endpoints/{SiteFixture.EndpointId}");
        Assert.Equal(site.Bob.Name, bobView.LocalUsername);
        Assert.Equal([bobSubmit.UserEndpointId], bobView.UserEndpoints.Select(u => u.UserEndpointId));
    }

    [Fact]
    public async Task An_unmapped_identity_gets_403_and_no_process_starts()
    {
        using var eve = site.ClientFor(site.EveIdentity);
        using var alice = site.ClientFor(site.AliceIdentity);
        var function = await RegisterAsync(alice, "id -u");

        var response = await eve.PostAsJsonAsync($"v1/endpoints/{SiteFixture.EndpointId}/submit", new SubmitRequest([new TaskSubmission(function)]), ProtocolJson.Options);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<Problem>(ProtocolJson.Options);
        Assert.Equal($"identity {site.EveIdentity} does not map to a local account on endpoint {SiteFixture.EndpointId}", problem!.Detail);

        var eveView = await GetAsync<EndpointView>(eve, $"v1/endpoints/{SiteFixture.EndpointId}");
        Assert.Null(eveView.LocalUsername);
        Assert.Empty(eveView.UserEndpoints);

        // No user endpoint exists for Eve: every process the launcher runs belongs to a mapped user.
        var eveUep = Mep.Grains.UserConfig.UserEndpointId.Derive(SiteFixture.EndpointId, Mep.Protocol.Auth.MepClaims.IdentityIdFor(site.EveIdentity).ToString(), "{}");
        var children = await new Mep.Grains.Launching.LauncherClient(site.LauncherSocket).ListAsync(CancellationToken.None);
        Assert.DoesNotContain(children, c => c.UepId == eveUep);
        Assert.All(children, c => Assert.Contains(c.Username, new[] { site.Alice.Name, site.Bob.Name }));
    }

    [Fact]
    public async Task Bad_input_is_a_problem_that_names_the_field()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var function = await RegisterAsync(alice, "echo {word}");

        var badConfig = await alice.PostAsJsonAsync(
            $"v1/endpoints/{SiteFixture.EndpointId}/submit",
            new SubmitRequest([new TaskSubmission(function, new Dictionary<string, string> { ["word"] = "x" })], new() { ["max_workers_per_node"] = "many" }),
            ProtocolJson.Options);
        Assert.Equal(HttpStatusCode.BadRequest, badConfig.StatusCode);
        Assert.Contains("user_endpoint_config.max_workers_per_node", (await badConfig.Content.ReadFromJsonAsync<Problem>(ProtocolJson.Options))!.Detail);

        var reserved = await alice.PostAsJsonAsync(
            $"v1/endpoints/{SiteFixture.EndpointId}/submit",
            new SubmitRequest([new TaskSubmission(function, new Dictionary<string, string> { ["word"] = "x" })], new() { ["mapped_identity"] = new System.Text.Json.Nodes.JsonObject { ["local"] = "root" } }),
            ProtocolJson.Options);
        Assert.Equal(HttpStatusCode.BadRequest, reserved.StatusCode);
        Assert.StartsWith("user_endpoint_config.mapped_identity: is a reserved name", (await reserved.Content.ReadFromJsonAsync<Problem>(ProtocolJson.Options))!.Detail);

        var missingArg = await alice.PostAsJsonAsync($"v1/endpoints/{SiteFixture.EndpointId}/submit", new SubmitRequest([new TaskSubmission(function)]), ProtocolJson.Options);
        Assert.Equal(HttpStatusCode.BadRequest, missingArg.StatusCode);
        Assert.Equal("tasks[0].args: argument 'word' is missing", (await missingArg.Content.ReadFromJsonAsync<Problem>(ProtocolJson.Options))!.Detail);

        var unknown = await alice.PostAsJsonAsync($"v1/endpoints/{SiteFixture.EndpointId}/submit", new SubmitRequest([new TaskSubmission(Guid.NewGuid())]), ProtocolJson.Options);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        using var anonymous = site.Tls.Client(alice.BaseAddress);
        var noToken = await anonymous.GetAsync($"v1/endpoints/{SiteFixture.EndpointId}");
        Assert.Equal(HttpStatusCode.Unauthorized, noToken.StatusCode);
        Assert.Equal("application/problem+json", noToken.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task A_user_endpoints_broker_credentials_cannot_consume_another_user_endpoints_queue()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        using var bob = site.ClientFor(site.BobIdentity);
        var function = await RegisterAsync(alice, "true");
        var aliceReceipt = await SubmitAsync(alice, function, 1);
        var bobReceipt = await SubmitAsync(bob, function, 1);
        var (aliceUep, bobUep) = (aliceReceipt.UserEndpointId, bobReceipt.UserEndpointId);

        // Both UEPs must have started (and the silo minted their credentials) before we mint again: otherwise the
        // grain's own mint can land after ours and replace the password we are about to log in with.
        Assert.Equal(ApiTaskStatus.Success, (await WaitForResultAsync(alice, aliceReceipt.TaskIds[0])).Status);
        Assert.Equal(ApiTaskStatus.Success, (await WaitForResultAsync(bob, bobReceipt.TaskIds[0])).Status);

        // Credentials exactly as the silo mints them for Alice's UEP (fresh ones: the live UEP keeps its connection).
        using var http = site.Broker.ManagementClient();
        var admin = new Mep.Grains.Broker.BrokerAdmin(http, Microsoft.Extensions.Options.Options.Create(site.BrokerOptions()));
        var (user, password) = await admin.MintUepCredentialsAsync(aliceUep, CancellationToken.None);
        var factory = new ConnectionFactory
        {
            HostName = site.Broker.Host,
            Port = site.Broker.AmqpPort,
            VirtualHost = site.BrokerOptions().VirtualHost,
            UserName = user,
            Password = password,
            Ssl = site.Broker.Ssl(),
        };
        await using var connection = await factory.CreateConnectionAsync();
        await using (var own = await connection.CreateChannelAsync())
        {
            await own.BasicQosAsync(0, 1, false);
            await own.QueueDeclarePassiveAsync(BrokerNames.TaskQueue(aliceUep));
        }

        await using var other = await connection.CreateChannelAsync();
        var refused = await Assert.ThrowsAsync<OperationInterruptedException>(() =>
            other.BasicConsumeAsync(BrokerNames.TaskQueue(bobUep), autoAck: false, new AsyncEventingBasicConsumer(other)));
        Assert.Equal((ushort)403, refused.ShutdownReason?.ReplyCode);
    }

    [Fact]
    public async Task Killing_the_silo_while_tasks_are_queued_loses_no_task()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var function = await RegisterAsync(alice, "sleep 0.2; echo {n}");
        var tasks = Enumerable.Range(0, 20)
            .Select(i => new TaskSubmission(function, new Dictionary<string, string> { ["n"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture) }))
            .ToList();
        var receipt = await PostAsync<SubmitResponse>(alice, $"v1/endpoints/{SiteFixture.EndpointId}/submit",
            new SubmitRequest(tasks, new() { ["label"] = "durability" }));

        await site.KillSiloAsync();
        await site.StartSiloAsync();

        using var again = site.ClientFor(site.AliceIdentity);
        for (var i = 0; i < receipt.TaskIds.Count; i++)
        {
            var done = await WaitForResultAsync(again, receipt.TaskIds[i]);
            Assert.Equal(ApiTaskStatus.Success, done.Status);
            Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), done.Result!.Stdout.Trim());
        }
    }

    private static Task<Guid> RegisterAsync(HttpClient client, string command) => SiteApi.RegisterAsync(client, command);

    private static Task<SubmitResponse> SubmitAsync(HttpClient client, Guid function, int count) => SiteApi.SubmitAsync(client, function, count);

    private Task<TaskView> WaitForResultAsync(HttpClient client, Guid taskId) => SiteApi.WaitForResultAsync(site, client, taskId);

    private static Task<T> PostAsync<T>(HttpClient client, string path, object body) => SiteApi.PostAsync<T>(client, path, body);

    private static Task<T> GetAsync<T>(HttpClient client, string path) => SiteApi.GetAsync<T>(client, path);
}
