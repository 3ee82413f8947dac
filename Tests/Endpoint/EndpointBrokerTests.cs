using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.Versioning;
using System.Text;
using System.Text.Json.Nodes;
using Mep.Endpoint;
using Mep.Protocol;
using Mep.Protocol.Launcher;
using Mep.Protocol.Messages;
using Mep.Tests.Infrastructure;
using RabbitMQ.Client;
using Xunit;
using Xunit.Abstractions;

namespace Mep.Tests.Endpoint;

/// <summary>
/// The real mep-endpoint program against a real RabbitMQ node, with a broker user limited exactly like one the
/// silo mints: no configure, write only to mep.results with its own routing key, read only its own task queue.
/// </summary>
[Collection(RabbitMqCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed class EndpointBrokerTests(RabbitMqNode node, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private readonly string _uepId = Guid.NewGuid().ToString();
    private readonly string _password = Convert.ToHexString(Guid.NewGuid().ToByteArray());
    private readonly string _home = Directory.CreateTempSubdirectory("mep-uep-home-").FullName;
    private readonly ConcurrentQueue<(EndpointEvent Event, IReadOnlyBasicProperties Properties)> _events = new();
    private IConnection _admin = null!;
    private IChannel _channel = null!;

    private string UepUser => BrokerNames.UepUser(_uepId);

    private string TaskQueue => BrokerNames.TaskQueue(_uepId);

    // Any partition will do: the silo picks it; the UEP publishes with what its start document says.
    private const int Partition = 3;

    private string RoutingKey => BrokerNames.EventsRoutingKey(Partition, _uepId);

    public async Task InitializeAsync()
    {
        var factory = new ConnectionFactory { HostName = node.Host, Port = node.AmqpPort, UserName = node.AdminUser, Password = node.AdminPassword, Ssl = node.Ssl() };
        _admin = await factory.CreateConnectionAsync();
        _channel = await _admin.CreateChannelAsync();
        await _channel.ExchangeDeclareAsync(BrokerNames.EventsExchange, ExchangeType.Topic, durable: true);
        await _channel.QueueDeclareAsync(TaskQueue, durable: true, exclusive: false, autoDelete: false);
        var watch = await _channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true);
        await _channel.QueueBindAsync(watch.QueueName, BrokerNames.EventsExchange, RoutingKey);
        var consumer = new RabbitMQ.Client.Events.AsyncEventingBasicConsumer(_channel);
        consumer.ReceivedAsync += (_, ea) =>
        {
            _events.Enqueue((ProtocolJson.Deserialize<EndpointEvent>(ea.Body.Span), ea.BasicProperties));
            return Task.CompletedTask;
        };
        await _channel.BasicConsumeAsync(watch.QueueName, autoAck: true, consumer);
        await CreateUepUserAsync(topicWrite: $"^{Partition}\\.uep\\.{_uepId}$");
    }

    public async Task DisposeAsync()
    {
        await _channel.QueueDeleteAsync(TaskQueue);
        await ManagementAsync(HttpMethod.Delete, $"api/users/{UepUser}", null, allowNotFound: true);
        await _channel.DisposeAsync();
        await _admin.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    [Fact]
    public async Task Runs_tasks_publishes_confirmed_results_heartbeats_and_stops_when_idle()
    {
        var hostile = "'; touch pwned; '";
        var echo = NewTask("id -u; printf '%s' {x}", new() { ["x"] = hostile });
        var fails = NewTask("pwd; exit 7");
        var missing = NewTask("echo {nope}");
        await PublishTaskAsync(echo);
        await PublishTaskAsync(echo); // a duplicate delivery of the same task: must not run twice
        await PublishTaskAsync(fails);
        await PublishTaskAsync(missing);

        // As a worker killed mid-task in an earlier run left its records: moot once the endpoint has been idle.
        var attempts = Path.Combine(_home, ".mep", "endpoints", _uepId, "attempts");
        Directory.CreateDirectory(attempts);
        var killed = Path.Combine(attempts, $"{Mep.Endpoint.Worker.AttemptStore.RunningPrefix}b0.0.node9.4242");
        File.WriteAllText(killed, Mep.Endpoint.Worker.AttemptStore.Record(Guid.NewGuid(), 1));

        using var uep = EndpointProcess.Start(Document(idleSeconds: 3), _home);
        var exit = await uep.WaitForExitAsync(Deadline);
        output.WriteLine(uep.Stderr);
        Assert.Empty(Directory.EnumerateFiles(attempts));

        Assert.True(exit == ExitCodes.Ok, $"exit {exit?.ToString(CultureInfo.InvariantCulture) ?? "none (still running)"}; stderr:\n{uep.Stderr}");
        Assert.True(await ProcessProbe.WaitUntilAsync(() => _events.Any(e => e.Event.Kind == EndpointEventKind.Stopping), TimeSpan.FromSeconds(10)), uep.Stderr);
        var events = _events.ToList();

        // The manager's own events start with Started; its workers connect on their own, in parallel, so their first
        // TaskStarted or Result may come before it.
        var lifecycle = events.Where(e => e.Event.Kind != EndpointEventKind.TaskStarted && !e.Event.IsResult()).ToList();
        Assert.Equal(EndpointEventKind.Started, lifecycle[0].Event.Kind);
        Assert.Single(events, e => e.Event.Kind == EndpointEventKind.Started);
        Assert.Equal(EndpointEventKind.Stopping, events[^1].Event.Kind);
        Assert.Equal("idle", events[^1].Event.Reason);
        Assert.All(events, e =>
        {
            Assert.Equal(UepUser, e.Properties.UserId);
            Assert.Equal(BrokerNames.EventMessageType, e.Properties.Type);
            // The stream provider's wire format: the silo routes the event to this UEP's stream by these headers.
            Assert.Equal(BrokerNames.EventStreamNamespace, System.Text.Encoding.UTF8.GetString((byte[])e.Properties.Headers![BrokerNames.StreamNamespaceHeader]!));
            Assert.Equal(_uepId, System.Text.Encoding.UTF8.GetString((byte[])e.Properties.Headers![BrokerNames.StreamKeyHeader]!));
            Assert.True(e.Properties.Persistent);
            Assert.Equal(_uepId, e.Event.UepId);
        });
        var heartbeat = events.First(e => e.Event.Kind == EndpointEventKind.Heartbeat).Event.Heartbeat!;
        Assert.Equal(uep.Pid, heartbeat.Pid);

        // A result alone has its task's id as message id; results sent together (tasks ending close together) share one.
        Assert.All(events.Where(e => e.Event.Kind == EndpointEventKind.Result), r => Assert.Equal(r.Event.Result!.TaskId.ToString(), r.Properties.MessageId));
        var byId = events.SelectMany(e => e.Event.AllResults()).ToDictionary(r => r.TaskId);
        Assert.Equal(3, byId.Count);

        var ok = byId[echo.TaskId];
        Assert.Equal(TaskState.Success, ok.State);
        Assert.Equal($"{Native.GetUid()}\n{hostile}", ok.Stdout);
        Assert.Equal((int)Native.GetUid(), ok.Uid);
        Assert.False(File.Exists(Path.Combine(_home, "pwned")));

        Assert.Equal(7, byId[fails.TaskId].ReturnCode);
        Assert.Equal($"{_home}\n", byId[fails.TaskId].Stdout);
        Assert.Equal("argument 'nope' is missing", byId[missing.TaskId].Error);

        // Every delivery was acked (none went back to the queue when the program closed its connection).
        Assert.Equal(0u, await _channel.MessageCountAsync(TaskQueue));
        Assert.Contains("stopped (idle)", uep.Stderr);
        Assert.DoesNotContain(_password, uep.Stderr);

        // The UEP's own log, under the user's home and readable by the user alone, holds what stderr held.
        var log = Path.Combine(_home, ".mep", "endpoints", _uepId, "endpoint.log");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(log));
        var logged = File.ReadAllText(log);
        Assert.Contains("stopped (idle)", logged);
        Assert.Contains($"user endpoint {_uepId}", logged);
        Assert.DoesNotContain(_password, logged);
    }

    [Fact]
    public async Task Sigterm_kills_running_tasks_and_returns_them_to_the_queue()
    {
        var sleeper = NewTask("sleep 100 & echo $! > pid.tmp && mv pid.tmp pid; sleep 100", walltime: 600);
        await PublishTaskAsync(sleeper);
        using var uep = EndpointProcess.Start(Document(idleSeconds: 600), _home);
        var pidFile = Path.Combine(_home, "pid");
        Assert.True(await ProcessProbe.WaitUntilAsync(() => File.Exists(pidFile) || uep.HasExited, Deadline), uep.Stderr);
        Assert.False(uep.HasExited, uep.Stderr);
        var background = int.Parse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture);

        Assert.Equal(0, Native.Kill(uep.Pid, 15));
        var exit = await uep.WaitForExitAsync(Deadline);
        output.WriteLine(uep.Stderr);

        Assert.True(exit == ExitCodes.Ok, $"exit {exit}; stderr:\n{uep.Stderr}");
        Assert.True(await ProcessProbe.WaitUntilAsync(() => ProcessProbe.IsDead(background), TimeSpan.FromSeconds(10)));
        Assert.True(await ProcessProbe.WaitUntilAsync(() => _events.Any(e => e.Event.Kind == EndpointEventKind.Stopping), TimeSpan.FromSeconds(10)), uep.Stderr);
        Assert.Equal("signal", _events.Single(e => e.Event.Kind == EndpointEventKind.Stopping).Event.Reason);
        Assert.DoesNotContain(_events, e => e.Event.IsResult());
        Assert.Equal(1u, await _channel.MessageCountAsync(TaskQueue));
    }

    [Fact]
    public async Task Refused_results_routing_key_exits_3_naming_the_cause()
    {
        // Same user, but its topic permission no longer allows its own routing key.
        await CreateUepUserAsync(topicWrite: "^nothing$");
        using var uep = EndpointProcess.Start(Document(idleSeconds: 600), _home);
        var exit = await uep.WaitForExitAsync(Deadline);
        output.WriteLine(uep.Stderr);

        Assert.True(exit == ExitCodes.BrokerFailure, $"exit {exit}; stderr:\n{uep.Stderr}");
        var last = uep.Stderr.TrimEnd().Split('\n')[^1];
        Assert.Contains("ERROR", last);
        Assert.Contains("ACCESS_REFUSED", last);
    }

    [Fact]
    public async Task Wrong_password_exits_3_without_logging_it()
    {
        var doc = Document(idleSeconds: 600);
        doc = doc with { Broker = doc.Broker with { Password = "not-" + _password } };
        using var uep = EndpointProcess.Start(doc, _home);
        var exit = await uep.WaitForExitAsync(Deadline);
        output.WriteLine(uep.Stderr);

        Assert.True(exit == ExitCodes.BrokerFailure, $"exit {exit}; stderr:\n{uep.Stderr}");
        Assert.Contains("broker refused the login", uep.Stderr);
        Assert.DoesNotContain(_password, uep.Stderr);
    }

    [Fact]
    public async Task Runs_as_the_unix_user_it_was_started_as()
    {
        Assert.True(Environment.UserName == "root", "this test creates a Unix user and needs root");
        var user = $"mep-t{Guid.NewGuid().ToString("N")[..8]}";
        await RunAsync("useradd", "--create-home", "--shell", "/bin/sh", user);
        try
        {
            var home = $"/home/{user}";
            var whoami = NewTask("id -un; id -u; pwd; readlink /proc/$$/fd/0");
            await PublishTaskAsync(whoami);
            using var uep = EndpointProcess.Start(Document(idleSeconds: 1), home, asUser: user);
            var exit = await uep.WaitForExitAsync(Deadline);
            output.WriteLine(uep.Stderr);

            Assert.True(exit == ExitCodes.Ok, $"exit {exit}; stderr:\n{uep.Stderr}");
            Assert.True(await ProcessProbe.WaitUntilAsync(() => _events.Any(e => e.Event.Kind == EndpointEventKind.Result), TimeSpan.FromSeconds(10)), uep.Stderr);
            var result = _events.Single(e => e.Event.Kind == EndpointEventKind.Result).Event.Result!;
            var uid = int.Parse((await RunAsync("id", "-u", user)).Trim(), CultureInfo.InvariantCulture);
            Assert.Equal(user, result.Username);
            Assert.Equal(uid, result.Uid);
            Assert.NotEqual(0, uid);
            Assert.Equal($"{user}\n{uid}\n{home}\n/dev/null\n", result.Stdout);
            Assert.Equal(TaskState.Success, result.State);
        }
        finally
        {
            await RunAsync("userdel", "--remove", user);
        }
    }

    [Fact]
    public async Task Tasks_and_workers_see_the_trust_store_variables_the_uep_was_started_with()
    {
        // The UEP and its workers point SSL_CERT_FILE/SSL_CERT_DIR at the broker's CA for themselves (TrustStoreLocation);
        // a task must see the user's own values: one set, one unset.
        const string userBundle = "/home/someone/my-roots.pem";
        // ({{ and }} are literal braces in a shell task's command.)
        var probe = NewTask("printf '%s|%s|%s' \"${{SSL_CERT_FILE-unset}}\" \"${{SSL_CERT_DIR-unset}}\" \"$(tr '\\0' '\\n' < /proc/$PPID/environ | grep -c '^SSL_CERT_DIR=')\"");
        await PublishTaskAsync(probe);
        using var uep = EndpointProcess.Start(Document(idleSeconds: 1), _home,
            environment: new Dictionary<string, string?> { ["SSL_CERT_FILE"] = userBundle, ["SSL_CERT_DIR"] = null });
        var exit = await uep.WaitForExitAsync(Deadline);
        output.WriteLine(uep.Stderr);

        Assert.True(exit == ExitCodes.Ok, $"exit {exit}; stderr:\n{uep.Stderr}");
        Assert.True(await ProcessProbe.WaitUntilAsync(() => _events.Any(e => e.Event.Kind == EndpointEventKind.Result), TimeSpan.FromSeconds(10)), uep.Stderr);
        var result = _events.Single(e => e.Event.Kind == EndpointEventKind.Result).Event.Result!;
        Assert.Equal(TaskState.Success, result.State);
        // The shell's parent is the task's setsid'd /bin/sh or the worker: neither was started with SSL_CERT_DIR.
        Assert.Equal($"{userBundle}|unset|0", result.Stdout);
    }

    [Fact]
    public async Task Recovers_a_connection_the_broker_closed_and_keeps_working()
    {
        // Runs until the test creates "go", so the connection is closed while it is surely running.
        var first = NewTask("echo x >> runs; while [ ! -e go ]; do sleep 0.05; done; echo one");
        await PublishTaskAsync(first);
        using var uep = EndpointProcess.Start(Document(idleSeconds: 600), _home);
        Assert.True(await ProcessProbe.WaitUntilAsync(() => File.Exists(Path.Combine(_home, "runs")) || uep.HasExited, Deadline), uep.Stderr);

        // Closed under a running task: its delivery is requeued by the broker and comes back after recovery,
        // where it must join the running task instead of running it a second time.
        // Two connections: the UEP's and its worker's (the management API may list the second a little later).
        await CloseConnectionsOfAsync(UepUser, expected: 2);
        // Both the UEP and its worker recover (the worker's log is its block's stderr under the UEP directory).
        Assert.True(await ProcessProbe.WaitUntilAsync(() => uep.Stderr.Contains("connection to broker recovered", StringComparison.Ordinal) || uep.HasExited, Deadline), uep.Stderr);
        Assert.True(await ProcessProbe.WaitUntilAsync(() => WorkerLogs().Contains("connection to broker recovered", StringComparison.Ordinal) || uep.HasExited, Deadline), WorkerLogs());
        var second = NewTask("echo two");
        await PublishTaskAsync(second);
        Assert.True(await ProcessProbe.WaitUntilAsync(() => ResultsFor(second.TaskId) == 1 || uep.HasExited, Deadline), uep.Stderr);
        Assert.Equal(0, ResultsFor(first.TaskId));
        Assert.Contains($"task {first.TaskId} delivered again while running", WorkerLogs());
        File.WriteAllText(Path.Combine(_home, "go"), "");
        Assert.True(await ProcessProbe.WaitUntilAsync(() => ResultsFor(second.TaskId) == 1 && ResultsFor(first.TaskId) == 1, Deadline), uep.Stderr);

        Assert.Equal(0, Native.Kill(uep.Pid, 15));
        var exit = await uep.WaitForExitAsync(Deadline);
        output.WriteLine(uep.Stderr);
        Assert.True(exit == ExitCodes.Ok, $"exit {exit}; stderr:\n{uep.Stderr}");
        Assert.Equal("x\n", File.ReadAllText(Path.Combine(_home, "runs")));
        Assert.Equal(1, ResultsFor(first.TaskId));
        Assert.Equal(0u, await _channel.MessageCountAsync(TaskQueue));
    }

    [Fact]
    public async Task Connection_not_recovered_within_the_deadline_exits_3()
    {
        using var uep = EndpointProcess.Start(Document(idleSeconds: 600), _home,
            environment: new Dictionary<string, string?> { [EndpointSettings.BrokerRecoveryVariable] = "3" });
        Assert.True(await ProcessProbe.WaitUntilAsync(() => _events.Any(e => e.Event.Kind == EndpointEventKind.Started) || uep.HasExited, Deadline), uep.Stderr);

        // Deleting the user closes its connection, and every reconnect attempt is refused.
        await ManagementAsync(HttpMethod.Delete, $"api/users/{UepUser}", null);
        var exit = await uep.WaitForExitAsync(Deadline);
        output.WriteLine(uep.Stderr);

        Assert.True(exit == ExitCodes.BrokerFailure, $"exit {exit}; stderr:\n{uep.Stderr}");
        var last = uep.Stderr.TrimEnd().Split('\n')[^1];
        Assert.Contains($"ERROR connection to broker {node.Host}:{node.AmqpPort} lost and not recovered within 3 s", last);
    }

    /// <summary>What this UEP's workers wrote to stderr (each block's <c>worker.err</c>).</summary>
    private string WorkerLogs()
    {
        var blocks = Path.Combine(_home, ".mep", "endpoints", _uepId, "blocks");
        return Directory.Exists(blocks)
            ? string.Concat(Directory.EnumerateFiles(blocks, "worker.err", SearchOption.AllDirectories).Select(File.ReadAllText))
            : "";
    }

    private int ResultsFor(Guid taskId) => _events.SelectMany(e => e.Event.AllResults()).Count(r => r.TaskId == taskId);

    private async Task CloseConnectionsOfAsync(string user, int expected)
    {
        // The management API lists a new connection after a short delay: poll until ours shows up.
        List<string> names = [];
        Assert.True(await ProcessProbe.WaitUntilAsync(() =>
        {
            var list = ManagementGetAsync("api/connections").GetAwaiter().GetResult().AsArray();
            names = list.Where(c => (string?)c!["user"] == user).Select(c => (string)c!["name"]!).ToList();
            return names.Count >= expected;
        }, Deadline));
        foreach (var name in names)
        {
            await ManagementAsync(HttpMethod.Delete, $"api/connections/{Uri.EscapeDataString(name)}", null);
        }
    }

    private async Task<JsonNode> ManagementGetAsync(string path)
    {
        using var http = ManagementClient();
        return JsonNode.Parse(await http.GetStringAsync(path))!;
    }

    private HttpClient ManagementClient()
    {
        var http = node.ManagementClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{node.AdminUser}:{node.AdminPassword}")));
        return http;
    }

    private static async Task<string> RunAsync(string file, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)}: exit {p.ExitCode}: {await stderr}");
        return await stdout;
    }

    private UepStartDocument Document(double idleSeconds) => new(
        _uepId, Guid.NewGuid().ToString(),
        new BrokerCredentials(node.Host, node.AmqpPort, "/", UepUser, _password, TaskQueue,
            BrokerNames.EventsExchange, RoutingKey, BrokerNames.EventStreamNamespace, _uepId, Tls: true, CaFile: node.CaFile),
        HeartbeatPeriodSeconds: 0.3, IdleTimeoutSeconds: idleSeconds,
        new JsonObject { ["engine"] = new JsonObject { ["max_workers_per_node"] = 2 } },
        TaskLimits.Default, []);

    private static TaskMessage NewTask(string command, Dictionary<string, string>? args = null, double walltime = 30) =>
        new(Guid.NewGuid(), Guid.NewGuid(), FunctionKind.Shell, command, args ?? [], walltime, 65536);

    private async Task PublishTaskAsync(TaskMessage task)
    {
        var properties = new BasicProperties { Persistent = true, MessageId = task.TaskId.ToString() };
        await _channel.BasicPublishAsync("", TaskQueue, mandatory: true, properties, ProtocolJson.SerializeToUtf8(task));
    }

    private async Task CreateUepUserAsync(string topicWrite)
    {
        await ManagementAsync(HttpMethod.Put, $"api/users/{UepUser}", new JsonObject { ["password"] = _password, ["tags"] = "" });
        await ManagementAsync(HttpMethod.Put, $"api/permissions/%2F/{UepUser}", new JsonObject
        {
            ["configure"] = "^$",
            ["write"] = "^mep\\.events$",
            ["read"] = $"^mep\\.uep\\.{_uepId}\\.tasks$",
        });
        await ManagementAsync(HttpMethod.Put, $"api/topic-permissions/%2F/{UepUser}", new JsonObject
        {
            ["exchange"] = BrokerNames.EventsExchange,
            ["write"] = topicWrite,
            ["read"] = "^$",
        });
    }

    private async Task ManagementAsync(HttpMethod method, string path, JsonObject? body, bool allowNotFound = false)
    {
        using var http = ManagementClient();
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        using var response = await http.SendAsync(request);
        var ok = response.IsSuccessStatusCode || (allowNotFound && response.StatusCode == System.Net.HttpStatusCode.NotFound);
        Assert.True(ok, $"{method} {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }
}
