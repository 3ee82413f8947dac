using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Tests.EndToEnd;
using Mep.Tests.Infrastructure;
using Orleans.TestingHost;
using Xunit;

namespace Mep.Tests.Grains;

/// <summary>
/// The audit trail of real runs (grains on a test cluster, the real launcher and UEP program, RabbitMQ): the mapping
/// behind each decision, the UEP's start and exit, and each task received, started and ended, with uid and pid.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class AuditTrailTests(SiteFixture site) : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mep-audit-trail-").FullName;
    private readonly string _suffix = Guid.NewGuid().ToString("N")[..6];
    private InProcessTestCluster? _cluster;

    private string EndpointDir => Path.Combine(_dir, "endpoint");

    private string AuditLog => Path.Combine(_dir, "audit.log");

    public Task InitializeAsync()
    {
        // alice maps by rule 0 to a real test user; daemon by rule 1 to a system account the launcher refuses.
        TestEndpoint.Write(EndpointDir, site.GrainEndpointId, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1), new Dictionary<string, string>
        {
            [Caller("alice").Username] = site.Alice.Name,
            [Caller("daemon").Username] = "daemon",
        });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_run_leaves_the_mapping_the_uep_start_and_exit_and_each_task_received_started_and_ended()
    {
        _cluster = await GrainTestCluster.StartAsync(site, _suffix, _dir, EndpointDir, site.LauncherSocket);
        var caller = Caller("alice");
        var function = await RegisterAsync("echo {n}");
        var receipt = await Endpoint().Submit(caller, new SubmitBatch(
            [Work(function, "1"), Work(function, "2")], null));
        await Endpoint().Describe(caller);
        var uep = _cluster.Client.GetGrain<IUserEndpointGrain>(receipt.UserEndpointId);
        var spec = (await uep.GetSnapshot()).Spec!;

        // Complete once the process has gone idle and its exit is recorded.
        var entries = await Poll.Until(
            () => Task.FromResult(Read().Any(e => Is(e, "uep-exit", receipt.UserEndpointId)) ? Read() : null),
            TimeSpan.FromMinutes(2), () => $"no uep-exit in the audit log:\n{string.Join('\n', File.ReadAllLines(AuditLog))}");
        var mine = entries.Where(e => (string?)e["user_endpoint_id"] == receipt.UserEndpointId || (string?)e["identity_id"] == caller.IdentityId).ToList();

        // Decisions carry the identity -> account mapping: which identity of the set matched, by which rule.
        foreach (var action in new[] { "submit", "describe" })
        {
            var decision = mine.Single(e => (string)e["action"]! == action);
            Assert.Equal("allowed", (string)decision["decision"]!);
            Assert.Equal(caller.IdentityId, (string)decision["matched_identity"]!);
            Assert.Equal("document[0].rule[0]", (string)decision["mapping_rule"]!);
            Assert.Equal(site.Alice.Name, (string)decision["local_user"]!);
        }

        var start = mine.Single(e => Is(e, "uep-start", receipt.UserEndpointId));
        Assert.Equal("allowed", (string)start["decision"]!);
        Assert.False(start.ContainsKey("status"));
        var pid = (int)start["pid"]!;
        Assert.True(pid > 1);
        Assert.Equal(site.Alice.Uid, (int)start["uid"]!);
        Assert.Equal(site.Alice.Name, (string)start["local_user"]!);
        // The node is the login node whose launcher ran it: the cluster's one silo, by its name.
        var node = _cluster.Silos.Single().Name;
        Assert.Equal(node, (await uep.GetSnapshot()).Node);
        Assert.Equal(node, (string)start["node"]!);
        Assert.Equal("sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(spec.RenderedConfigJson))), (string)start["config_hash"]!);

        for (var i = 0; i < receipt.TaskIds.Count; i++)
        {
            var taskId = receipt.TaskIds[i].ToString();
            var received = mine.Single(e => Is(e, "task-received", receipt.UserEndpointId) && (string)e["task_id"]! == taskId);
            var started = mine.Single(e => Is(e, "task-started", receipt.UserEndpointId) && (string)e["task_id"]! == taskId);
            var ended = mine.Single(e => Is(e, "task-ended", receipt.UserEndpointId) && (string)e["task_id"]! == taskId);
            Assert.All(new[] { received, started, ended }, e =>
            {
                Assert.Equal(function.ToString(), (string)e["function_id"]!);
                Assert.Equal(site.Alice.Uid, (int)e["uid"]!);
                Assert.Equal(site.Alice.Name, (string)e["local_user"]!);
                Assert.Equal("recorded", (string)e["decision"]!);
            });
            // Received before the process existed; started and ended under the process that the start recorded.
            Assert.False(received.ContainsKey("pid"));
            Assert.Equal(pid, (int)started["pid"]!);
            Assert.Equal(pid, (int)ended["pid"]!);
            Assert.Equal(1, (int)started["attempt"]!);
            Assert.False(started.ContainsKey("job_id")); // local workers: no batch job
            Assert.False(string.IsNullOrEmpty((string?)started["host"]));
            Assert.Equal("success", (string)ended["state"]!);
            Assert.Equal(0, (int)ended["exit_code"]!);
            Assert.Equal((string)started["worker_id"]!, (string)ended["worker_id"]!);
            Assert.True(mine.IndexOf(received) < mine.IndexOf(start) && mine.IndexOf(start) < mine.IndexOf(started)
                && mine.IndexOf(started) < mine.IndexOf(ended), "out of order");
        }

        var exit = mine.Single(e => Is(e, "uep-exit", receipt.UserEndpointId));
        Assert.Equal(pid, (int)exit["pid"]!);
        Assert.Equal(0, (int)exit["exit_code"]!);
        Assert.False(exit.ContainsKey("signal"));
        Assert.False(string.IsNullOrWhiteSpace((string?)exit["reason"]));
        Assert.Equal(node, (string)exit["node"]!);
    }

    [Fact]
    public async Task A_killed_uep_exit_names_the_signal_and_a_launcher_refusal_is_a_refused_start_with_failed_tasks()
    {
        _cluster = await GrainTestCluster.StartAsync(site, _suffix, _dir, EndpointDir, site.LauncherSocket);

        // Refused: the launcher will not run anything as a system account; the task ends failed with the reason.
        var refusedReceipt = await Endpoint().Submit(Caller("daemon"), new SubmitBatch([Work(await RegisterAsync("true {n}"), "0")], null));
        var refused = await Poll.Until(
            () => Task.FromResult(Read().FirstOrDefault(e => Is(e, "task-ended", refusedReceipt.UserEndpointId))),
            TimeSpan.FromMinutes(1), () => "the refused task never ended in the audit log");
        Assert.Equal("failed", (string)refused["state"]!);
        Assert.Contains("launcher refused", (string)refused["reason"]!);
        var refusedStart = Read().Single(e => Is(e, "uep-start", refusedReceipt.UserEndpointId));
        Assert.Equal("refused", (string)refusedStart["decision"]!);
        Assert.Contains("daemon", (string)refusedStart["reason"]!);
        Assert.False(refusedStart.ContainsKey("pid"));

        // Killed: SIGKILL to the running UEP (its task sleeps); its exit is recorded with the signal.
        var caller = Caller("alice");
        var receipt = await Endpoint().Submit(caller, new SubmitBatch([Work(await RegisterAsync("sleep {n}"), "20")], null));
        var started = await Poll.Until(
            () => Task.FromResult(Read().FirstOrDefault(e => Is(e, "task-started", receipt.UserEndpointId))),
            TimeSpan.FromMinutes(1), () => "the task never started");
        var pid = (int)started["pid"]!;
        Process.GetProcessById(pid).Kill();
        var exit = await Poll.Until(
            () => Task.FromResult(Read().FirstOrDefault(e => Is(e, "uep-exit", receipt.UserEndpointId))),
            TimeSpan.FromMinutes(1), () => "the killed UEP's exit is not in the audit log");
        Assert.Equal(pid, (int)exit["pid"]!);
        Assert.Equal(9, (int)exit["signal"]!);
        Assert.Equal(137, (int)exit["exit_code"]!);
        // It ran for less than a minute, so it counts as a failed start: the line says when the next attempt comes.
        Assert.StartsWith("killed by signal 9; start attempt 1 of 3 failed, next attempt in 1 s", (string)exit["reason"]!);
        Assert.Equal(1, (int)exit["attempt"]!);
        Assert.True(exit.ContainsKey("next_attempt_at"));

        // The grain starts it again for the task still pending; stop that one so it does not outlive the test.
        var uep = _cluster.Client.GetGrain<IUserEndpointGrain>(receipt.UserEndpointId);
        await Poll.UntilTrue(async () => (await uep.GetSnapshot()).Pid is { } again && again != pid,
            TimeSpan.FromMinutes(1), () => "the UEP was not started again");
        await uep.Stop("the test");
    }

    private List<JsonObject> Read() => File.Exists(AuditLog)
        ? File.ReadAllLines(AuditLog).Select(l => JsonNode.Parse(l)!.AsObject()).ToList()
        : [];

    private static bool Is(JsonObject e, string action, string uepId) =>
        (string?)e["action"] == action && (string?)e["user_endpoint_id"] == uepId;

    private static SubmittedTask Work(Guid function, string n) => new(function, new Dictionary<string, string> { ["n"] = n }, null);

    private IEndpointGrain Endpoint() => _cluster!.Client.GetGrain<IEndpointGrain>(site.GrainEndpointId);

    private CallerIdentity Caller(string who)
    {
        var username = $"{who}-{_suffix}@grains.test";
        return new CallerIdentity(Mep.Protocol.Auth.MepClaims.IdentityIdFor(username).ToString(), username, "grains.test", null, null);
    }

    private async Task<Guid> RegisterAsync(string command)
    {
        var id = Guid.NewGuid();
        await _cluster!.Client.GetGrain<IFunctionGrain>(id).Register(new FunctionDefinition(
            id, "owner", FunctionKindModel.Shell, "test", command, Mep.Protocol.Shell.ShellCommand.Placeholders(command), 60, DateTimeOffset.UtcNow));
        return id;
    }
}
