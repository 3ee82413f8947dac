using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains.Broker;
using Mep.Tests.EndToEnd;
using Mep.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using Xunit;

namespace Mep.Tests.Grains;

/// <summary>
/// The grains on an Orleans test cluster with real SQLite storage, a real RabbitMQ node and the real launcher:
/// durable acceptance, lifecycle transitions and recovery after the whole cluster restarts.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class UserEndpointLifecycleTests(SiteFixture site) : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mep-grains-").FullName;
    private readonly string _suffix = Guid.NewGuid().ToString("N")[..6];
    private InProcessTestCluster? _cluster;

    private string Database => Path.Combine(_dir, "mep.db");

    private string EndpointDir => Path.Combine(_dir, "endpoint");

    private string AuditLog => Path.Combine(_dir, "audit.log");

    private string EndpointId => site.GrainEndpointId;

    public Task InitializeAsync()
    {
        // alice maps to a real test user; daemon maps to a system account the launcher must refuse.
        TestEndpoint.Write(EndpointDir, EndpointId, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(1), new Dictionary<string, string>
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
    public async Task A_task_is_durable_when_submit_returns_and_runs_through_the_lifecycle()
    {
        _cluster = await StartClusterAsync(site.LauncherSocket);
        var caller = Caller("alice");
        var function = await RegisterAsync("echo ran as $(id -un)");

        var receipt = await Endpoint().Submit(caller, new SubmitBatch([new SubmittedTask(function, new Dictionary<string, string>(), null)], null));

        // Durable before the answer: the task is queued in the task table of the database file itself, for its user endpoint.
        var stored = QueuedInDatabase(receipt.TaskIds[0]);
        Assert.Equal(receipt.UserEndpointId, stored.UserEndpointId);
        Assert.Contains("echo ran as", stored.Queued, StringComparison.Ordinal);

        var uep = _cluster.Client.GetGrain<IUserEndpointGrain>(receipt.UserEndpointId);
        var seen = new HashSet<UserEndpointPhase>();
        await Poll.UntilTrue(
            async () =>
            {
                var snapshot = await uep.GetSnapshot();
                seen.Add(snapshot.Phase);
                return snapshot.PendingTasks == 0 && snapshot.Phase == UserEndpointPhase.Stopped && seen.Contains(UserEndpointPhase.Running);
            },
            TimeSpan.FromMinutes(2),
            () => $"phases seen: {string.Join(", ", seen)}");

        var record = await _cluster.Client.GetGrain<ITaskGrain>(receipt.TaskIds[0]).Get(caller.IdentityId);
        Assert.Equal(TaskOutcomeState.Success, record!.Outcome!.State);
        Assert.Equal($"ran as {site.Alice.Name}", record.Outcome.Stdout.Trim());
        Assert.Null(await _cluster.Client.GetGrain<ITaskGrain>(receipt.TaskIds[0]).Get(Caller("daemon").IdentityId));

        // The same result delivered again (a broker redelivery), even claiming another outcome, changes nothing.
        await uep.OnResult(receipt.TaskIds[0], TaskOutcome.FailedBy("a late duplicate", DateTimeOffset.UtcNow));
        var again = await _cluster.Client.GetGrain<ITaskGrain>(receipt.TaskIds[0]).Get(caller.IdentityId);
        Assert.Equal(record.Outcome, again!.Outcome);
    }

    [Fact]
    public async Task State_written_by_an_earlier_mep_keeps_its_queue_and_its_task_records()
    {
        // No launcher: the user endpoint cannot start, so its queue stays as it was moved.
        _cluster = await StartClusterAsync(Path.Combine(_dir, "no-launcher.sock"));
        var caller = Caller("alice");
        var storage = _cluster.GetSiloServiceProvider().GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(Mep.Grains.StorageNames.Mep);
        var uepId = Guid.NewGuid().ToString();
        var now = DateTimeOffset.UtcNow;
        var queued = Enumerable.Range(0, 3).Select(i => new QueuedTask(Guid.NewGuid(), Guid.NewGuid(), $"echo {i}", new Dictionary<string, string>(), 60, 1024, now))
            .ToList();
        // The queue as earlier versions kept it: inside the user endpoint's own state.
        var legacy = new Mep.Grains.UserEndpoints.UserEndpointState
        {
            Spec = new UserEndpointSpec(EndpointId, caller.IdentityId, site.Alice.Name, "{}", "{}"),
            Pending = queued.Select(t => new Mep.Grains.UserEndpoints.PendingTask { Task = t }).ToList(),
        };
        await storage.WriteStateAsync("user-endpoint", _cluster.Client.GetGrain<IUserEndpointGrain>(uepId).GetGrainId(),
            new Orleans.GrainState<Mep.Grains.UserEndpoints.UserEndpointState>(legacy));
        // And a finished task as earlier versions kept it: a grain state of its own.
        var oldTaskId = Guid.NewGuid();
        var oldRecord = new TaskRecord(oldTaskId, Guid.NewGuid(), caller.IdentityId, EndpointId, uepId, now.AddDays(-1), null);
        await storage.WriteStateAsync("task", _cluster.Client.GetGrain<ITaskGrain>(oldTaskId).GetGrainId(),
            new Orleans.GrainState<Mep.Grains.Tasks.TaskGrainState>(new Mep.Grains.Tasks.TaskGrainState
            {
                Record = oldRecord,
                Outcome = TaskOutcome.FailedBy("from before", now.AddDays(-1)),
            }));

        var snapshot = await _cluster.Client.GetGrain<IUserEndpointGrain>(uepId).GetSnapshot();
        Assert.Equal(3, snapshot.PendingTasks);
        // Moved: each task is queued in the task table, readable by its owner, and the state no longer holds them.
        foreach (var task in queued)
        {
            Assert.Equal(uepId, QueuedInDatabase(task.TaskId).UserEndpointId);
            var record = await _cluster.Client.GetGrain<ITaskGrain>(task.TaskId).Get(caller.IdentityId);
            Assert.Equal((uepId, (TaskOutcome?)null), (record!.UserEndpointId, record.Outcome));
        }

        var stored = new Orleans.GrainState<Mep.Grains.UserEndpoints.UserEndpointState>(new());
        await storage.ReadStateAsync("user-endpoint", _cluster.Client.GetGrain<IUserEndpointGrain>(uepId).GetGrainId(), stored);
        Assert.Empty(stored.State!.Pending);
        Assert.Equal(site.Alice.Name, stored.State.Spec!.LocalUsername);

        // The old task is still readable by its owner, and only by its owner.
        Assert.Equal("from before", (await _cluster.Client.GetGrain<ITaskGrain>(oldTaskId).Get(caller.IdentityId))!.Outcome!.Error);
        Assert.Null(await _cluster.Client.GetGrain<ITaskGrain>(oldTaskId).Get(Caller("daemon").IdentityId));
    }

    [Fact]
    public async Task A_launcher_refusal_fails_the_user_endpoint_and_its_tasks_with_the_reason()
    {
        _cluster = await StartClusterAsync(site.LauncherSocket);
        var caller = Caller("daemon");
        var function = await RegisterAsync("id -u");

        var receipt = await Endpoint().Submit(caller, new SubmitBatch([new SubmittedTask(function, new Dictionary<string, string>(), null)], null));

        var task = _cluster.Client.GetGrain<ITaskGrain>(receipt.TaskIds[0]);
        var record = await Poll.Until(async () => await task.Get(caller.IdentityId) is { Outcome: not null } r ? r : null, TimeSpan.FromMinutes(1), () => "task never failed");
        Assert.Equal(TaskOutcomeState.Failed, record.Outcome!.State);
        Assert.Contains("launcher refused", record.Outcome.Error);
        Assert.Contains("daemon", record.Outcome.Error);

        var snapshot = await _cluster.Client.GetGrain<IUserEndpointGrain>(receipt.UserEndpointId).GetSnapshot();
        Assert.Equal(UserEndpointPhase.Failed, snapshot.Phase);
        Assert.Equal(record.Outcome.Error, snapshot.Reason);
    }

    [Fact]
    public async Task A_stopped_user_endpoint_starts_next_time_with_the_template_as_it_is_now()
    {
        // No launcher: the UEP stays stopped, as one that went idle. The admin then changes the template; the same
        // user options give the same UEP, which must start with the new rendering, not the one stored at first.
        _cluster = await StartClusterAsync(Path.Combine(_dir, "no-launcher.sock"));
        var caller = Caller("alice");
        var function = await RegisterAsync("true");
        SubmitBatch Batch() => new([new SubmittedTask(function, new Dictionary<string, string>(), null)], null);
        var first = await Endpoint().Submit(caller, Batch());
        var uep = _cluster.Client.GetGrain<IUserEndpointGrain>(first.UserEndpointId);
        Assert.Contains("\"display_name\":\"user endpoint\"", (await uep.GetSnapshot()).Spec!.RenderedConfigJson);

        var template = Path.Combine(EndpointDir, "user_config_template.yaml.j2");
        File.WriteAllText(template, File.ReadAllText(template).Replace("default: \"user endpoint\"", "default: \"site default\"", StringComparison.Ordinal));
        var spec = await Poll.Until(
            async () =>
            {
                var receipt = await Endpoint().Submit(caller, Batch());
                Assert.Equal(first.UserEndpointId, receipt.UserEndpointId);
                return (await uep.GetSnapshot()).Spec is { } s && s.RenderedConfigJson.Contains("site default", StringComparison.Ordinal) ? s : null;
            },
            TimeSpan.FromSeconds(30), () => "the user endpoint kept the old rendering");
        Assert.Equal(site.Alice.Name, spec.LocalUsername);
    }

    [Fact]
    public async Task A_slow_identity_mapping_holds_up_only_its_own_request()
    {
        // An external mapping program that, for the "slow" identity, answers only once the test releases it: the
        // test does so only after the "fast" identity's submit has come back. Were the endpoint grain serving one
        // request at a time, the fast submit would wait behind the slow one, the release would never come in time,
        // and the slow program would give up without an answer (a 403).
        var release = Path.Combine(_dir, "release");
        var started = Path.Combine(_dir, "slow-started");
        var program = Path.Combine(_dir, "mapping-program");
        File.WriteAllText(program, $$"""
            #!/bin/sh
            input=$(cat)
            id=$(printf '%s' "$input" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
            case "$input" in
              *slow-*)
                touch '{{started}}'
                i=0
                while [ ! -e '{{release}}' ]; do
                  i=$((i+1)); [ $i -gt 80 ] && exit 0
                  sleep 0.05
                done ;;
            esac
            printf '{"DATA_TYPE":"identity_mapping_output#1.0.0","result":[{"id":"%s","output":"{{site.Alice.Name}}"}]}' "$id"

            """);
        File.SetUnixFileMode(program, (UnixFileMode)0b111_101_101);
        File.WriteAllText(Path.Combine(EndpointDir, "identity_mapping.json"),
            $$"""[{"DATA_TYPE":"external_identity_mapping#1.0.0","command":["{{program}}"]}]""");
        _cluster = await StartClusterAsync(Path.Combine(_dir, "no-launcher.sock"));
        var function = await RegisterAsync("true");
        SubmitBatch Batch() => new([new SubmittedTask(function, new Dictionary<string, string>(), null)], null);

        var slow = Endpoint().Submit(Caller("slow"), Batch());
        await Poll.UntilTrue(() => Task.FromResult(File.Exists(started)), TimeSpan.FromSeconds(30), () => "the slow mapping never started");
        var fast = await Endpoint().Submit(Caller("fast"), Batch());
        File.WriteAllText(release, "");

        var slowReceipt = await slow;
        Assert.NotEqual(fast.UserEndpointId, slowReceipt.UserEndpointId);
        Assert.Single(slowReceipt.TaskIds);
    }

    [Fact]
    public async Task Tasks_accepted_while_the_launcher_is_unreachable_run_after_the_cluster_restarts()
    {
        // First cluster: the launcher socket does not exist, so nothing can start; the tasks must still be kept.
        _cluster = await StartClusterAsync(Path.Combine(_dir, "no-launcher.sock"));
        var caller = Caller("alice");
        var function = await RegisterAsync("echo {n}");
        var tasks = Enumerable.Range(0, 5).Select(i => new SubmittedTask(function, new Dictionary<string, string> { ["n"] = $"{i}" }, null)).ToList();
        var receipt = await Endpoint().Submit(caller, new SubmitBatch(tasks, """{"label":"restart"}"""));
        var snapshot = await _cluster.Client.GetGrain<IUserEndpointGrain>(receipt.UserEndpointId).GetSnapshot();
        Assert.Equal(5, snapshot.PendingTasks);
        await _cluster.DisposeAsync();

        // Second cluster on the same database, with the real launcher: the restart alone brings the tasks to completion.
        _cluster = await StartClusterAsync(site.LauncherSocket);
        for (var i = 0; i < tasks.Count; i++)
        {
            var grain = _cluster.Client.GetGrain<ITaskGrain>(receipt.TaskIds[i]);
            var done = await Poll.Until(async () => await grain.Get(caller.IdentityId) is { Outcome: not null } r ? r : null, TimeSpan.FromMinutes(2), () => "task never completed after restart");
            Assert.Equal($"{i}", done.Outcome!.Stdout.Trim());
        }
    }

    [Fact]
    public async Task Events_on_a_uep_stream_from_another_broker_user_are_refused()
    {
        // No launcher: the UEP never runs, so the only events on its stream are the ones this test publishes.
        _cluster = await StartClusterAsync(Path.Combine(_dir, "no-launcher.sock"));
        var caller = Caller("alice");
        var function = await RegisterAsync("true");
        var receipt = await Endpoint().Submit(caller, new SubmitBatch(
            [new SubmittedTask(function, new Dictionary<string, string>(), null), new SubmittedTask(function, new Dictionary<string, string>(), null)], null));
        var uepA = receipt.UserEndpointId;
        var (taskId, markerId) = (receipt.TaskIds[0], receipt.TaskIds[1]);

        var services = _cluster.GetSiloServiceProvider(_cluster.Silos[0].SiloAddress);
        var admin = services.GetRequiredService<BrokerAdmin>();
        var options = services.GetRequiredService<Microsoft.Extensions.Options.IOptions<BrokerOptions>>().Value;
        // Another UEP whose events share A's partition, so that the forged events and A's own are read in order.
        var partition = options.EventsRoutingKey(uepA).Split('.')[0];
        var uepB = Enumerable.Range(0, 1000).Select(_ => Guid.NewGuid().ToString())
            .First(id => options.EventsRoutingKey(id).Split('.')[0] == partition);
        await admin.EnsureTaskQueueAsync(uepB);
        // The grain keeps retrying its start (no launcher) and mints A's password anew each time: mint and log in
        // together, and publish everything through that one connection (a live connection survives a new password).
        var (credsB, connectionB) = await ConnectAsync(admin, options, uepB);
        var (credsA, connectionA) = await ConnectAsync(admin, options, uepA);
        await using var _b = connectionB;
        await using var _a = connectionA;

        // B claims A's stream (the broker checks B's routing key, not the stream headers) with and without a user-id.
        await PublishEventAsync(connectionB, options.EventsRoutingKey(uepB), uepA, taskId, "forged", userId: credsB.Username);
        await PublishEventAsync(connectionB, options.EventsRoutingKey(uepB), uepA, taskId, "forged", userId: null);
        await PublishEventAsync(connectionA, options.EventsRoutingKey(uepA), uepA, taskId, "legit", userId: credsA.Username);
        // The same task's result again (as after a redelivery), even with other content: recorded once, the first.
        await PublishEventAsync(connectionA, options.EventsRoutingKey(uepA), uepA, taskId, "late duplicate", userId: credsA.Username);
        // A dead process's farewell (the UEP has no live process here): it must not leave the UEP "stopping".
        await PublishEventAsync(connectionA, options.EventsRoutingKey(uepA), uepA, taskId, "", userId: credsA.Username,
            kind: Mep.Protocol.Messages.EndpointEventKind.Stopping);
        // A stream is delivered in order: once this last one is recorded, every event before it has been handled.
        await PublishEventAsync(connectionA, options.EventsRoutingKey(uepA), uepA, markerId, "marker", userId: credsA.Username);

        // Results are first-wins: had a forged one counted, it would be the recorded outcome.
        var marker = _cluster.Client.GetGrain<ITaskGrain>(markerId);
        await Poll.Until(async () => await marker.Get(caller.IdentityId) is { Outcome: not null } r ? r : null,
            TimeSpan.FromMinutes(1), () => "the marker result never arrived");
        var record = await _cluster.Client.GetGrain<ITaskGrain>(taskId).Get(caller.IdentityId);
        Assert.Equal("legit", record!.Outcome!.Stdout);
        var snapshot = await _cluster.Client.GetGrain<IUserEndpointGrain>(uepA).GetSnapshot();
        Assert.Equal(0, snapshot.PendingTasks);
        Assert.NotEqual(UserEndpointPhase.Stopping, snapshot.Phase);
        // Both forged events are in the audit log, each with the broker user that sent it.
        var refused = File.ReadAllLines(AuditLog)
            .Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("action").GetString() == "event" && e.GetProperty("user_endpoint_id").GetString() == uepA)
            .ToList();
        Assert.Equal(2, refused.Count);
        Assert.All(refused, e => Assert.Equal("refused", e.GetProperty("decision").GetString()));
        Assert.Equal([credsB.Username, "(none)"], refused.Select(e => e.GetProperty("username").GetString()));
    }

    private static Task<(Mep.Grains.Broker.BrokerCredentials Credentials, RabbitMQ.Client.IConnection Connection)> ConnectAsync(
        BrokerAdmin admin, BrokerOptions options, string uepId) => UepStandIn.LoginAsync(admin, options, uepId);

    private static async Task PublishEventAsync(RabbitMQ.Client.IConnection connection, string routingKey,
        string streamKey, Guid taskId, string stdout, string? userId, Mep.Protocol.Messages.EndpointEventKind kind = Mep.Protocol.Messages.EndpointEventKind.Result)
    {
        await using var channel = await connection.CreateChannelAsync(new RabbitMQ.Client.CreateChannelOptions(true, true));
        var now = DateTimeOffset.UtcNow;
        var ev = kind == Mep.Protocol.Messages.EndpointEventKind.Result
            ? new Mep.Protocol.Messages.EndpointEvent(kind, streamKey, now,
                Result: new Mep.Protocol.Messages.TaskResultMessage(taskId, Mep.Protocol.Messages.TaskState.Success, 0, stdout, "", false,
                    null, now, now, "host", 1000, "someone"))
            : new Mep.Protocol.Messages.EndpointEvent(kind, streamKey, now, Reason: "idle", Pid: 4242);
        await channel.BasicPublishAsync(Mep.Protocol.Messages.BrokerNames.EventsExchange, routingKey, mandatory: true,
            new RabbitMQ.Client.BasicProperties
            {
                UserId = userId,
                ContentType = "application/json",
                Headers = new Dictionary<string, object?>
                {
                    [Mep.Protocol.Messages.BrokerNames.StreamNamespaceHeader] = System.Text.Encoding.UTF8.GetBytes(Mep.Protocol.Messages.BrokerNames.EventStreamNamespace),
                    [Mep.Protocol.Messages.BrokerNames.StreamKeyHeader] = System.Text.Encoding.UTF8.GetBytes(streamKey),
                },
            }, Mep.Protocol.ProtocolJson.SerializeToUtf8(ev));
    }

    private IEndpointGrain Endpoint() => _cluster!.Client.GetGrain<IEndpointGrain>(EndpointId);

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

    /// <summary>The task's row in the task table, read straight from the file (it must exist, queued).</summary>
    private (string UserEndpointId, string Queued) QueuedInDatabase(Guid taskId)
    {
        using var connection = new SqliteConnection($"Data Source={Database};Mode=ReadOnly");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT UserEndpointId, Queued FROM MepTask WHERE TaskId = $id AND IsOpen = 1";
        command.Parameters.AddWithValue("$id", taskId.ToString("D"));
        using var reader = command.ExecuteReader();
        Assert.True(reader.Read(), $"task {taskId} is not queued in the database");
        return (reader.GetString(0), reader.GetString(1));
    }

    private Task<InProcessTestCluster> StartClusterAsync(string launcherSocket) =>
        GrainTestCluster.StartAsync(site, _suffix, _dir, EndpointDir, launcherSocket);
}
