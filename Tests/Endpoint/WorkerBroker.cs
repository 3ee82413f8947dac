using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Mep.Protocol;
using Mep.Protocol.Launcher;
using Mep.Protocol.Messages;
using Mep.Tests.Infrastructure;
using RabbitMQ.Client;
using Xunit;

namespace Mep.Tests.Endpoint;

/// <summary>
/// One UEP's broker objects on a private node, as the silo makes them: its task queue, a broker user limited like the
/// minted ones (read its queue, publish only its own routing key on mep.events), and a watch on its events.
/// </summary>
internal sealed class WorkerBroker : IAsyncDisposable
{
    // Any partition will do: the silo picks it; workers publish with what their document says.
    private const int Partition = 5;

    private readonly RabbitMqNode _node;
    private readonly ConcurrentQueue<(EndpointEvent Event, IReadOnlyBasicProperties Properties)> _events = new();
    private IConnection _admin = null!;
    private IChannel _channel = null!;

    private WorkerBroker(RabbitMqNode node)
    {
        _node = node;
    }

    public string UepId { get; } = Guid.NewGuid().ToString();

    public string Password { get; } = Convert.ToHexString(Guid.NewGuid().ToByteArray());

    public string UepUser => BrokerNames.UepUser(UepId);

    public string TaskQueue => BrokerNames.TaskQueue(UepId);

    public IReadOnlyList<(EndpointEvent Event, IReadOnlyBasicProperties Properties)> Events => _events.ToList();

    public BrokerCredentials Credentials => new(_node.Host, _node.AmqpPort, "/", UepUser, Password, TaskQueue,
        BrokerNames.EventsExchange, BrokerNames.EventsRoutingKey(Partition, UepId), BrokerNames.EventStreamNamespace, UepId,
        Tls: true, CaFile: _node.CaFile);

    public static async Task<WorkerBroker> CreateAsync(RabbitMqNode node)
    {
        var broker = new WorkerBroker(node);
        var factory = new ConnectionFactory { HostName = node.Host, Port = node.AmqpPort, UserName = node.AdminUser, Password = node.AdminPassword, Ssl = node.Ssl() };
        broker._admin = await factory.CreateConnectionAsync();
        broker._channel = await broker._admin.CreateChannelAsync();
        await broker._channel.ExchangeDeclareAsync(BrokerNames.EventsExchange, ExchangeType.Topic, durable: true);
        await broker._channel.QueueDeclareAsync(broker.TaskQueue, durable: true, exclusive: false, autoDelete: false);
        var watch = await broker._channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true);
        await broker._channel.QueueBindAsync(watch.QueueName, BrokerNames.EventsExchange, BrokerNames.EventsRoutingKey(Partition, broker.UepId));
        var consumer = new RabbitMQ.Client.Events.AsyncEventingBasicConsumer(broker._channel);
        consumer.ReceivedAsync += (_, ea) =>
        {
            broker._events.Enqueue((ProtocolJson.Deserialize<EndpointEvent>(ea.Body.Span), ea.BasicProperties));
            return Task.CompletedTask;
        };
        await broker._channel.BasicConsumeAsync(watch.QueueName, autoAck: true, consumer);
        await broker.ManagementAsync(HttpMethod.Put, $"api/users/{broker.UepUser}", new JsonObject { ["password"] = broker.Password, ["tags"] = "" });
        await broker.ManagementAsync(HttpMethod.Put, $"api/permissions/%2F/{broker.UepUser}", new JsonObject
        {
            ["configure"] = "^$",
            ["write"] = "^mep\\.events$",
            ["read"] = $"^mep\\.uep\\.{broker.UepId}\\.tasks$",
        });
        await broker.ManagementAsync(HttpMethod.Put, $"api/topic-permissions/%2F/{broker.UepUser}", new JsonObject
        {
            ["exchange"] = BrokerNames.EventsExchange,
            ["write"] = $"^{Partition}\\.uep\\.{broker.UepId}$",
            ["read"] = "^$",
        });
        return broker;
    }

    public async Task PublishAsync(TaskMessage task)
    {
        var properties = new BasicProperties { Persistent = true, MessageId = task.TaskId.ToString() };
        await _channel.BasicPublishAsync("", TaskQueue, mandatory: true, properties, ProtocolJson.SerializeToUtf8(task));
    }

    /// <summary>Publishes the tasks in one message, as the silo sends short tasks to a UEP that takes bundles.</summary>
    public Task PublishBundleAsync(IReadOnlyList<TaskMessage> tasks) =>
        PublishRawAsync(BrokerNames.TaskBundleType, ProtocolJson.SerializeToUtf8(tasks.ToList()));

    /// <summary>Publishes a body as it is, with the given message type.</summary>
    public async Task PublishRawAsync(string? type, byte[] body) =>
        await _channel.BasicPublishAsync("", TaskQueue, mandatory: true, new BasicProperties { Persistent = true, Type = type }, body);

    /// <summary>
    /// Publishes the task and has it delivered once and handed back, as a dying worker's deliveries are: the broker
    /// marks its next delivery as redelivered.
    /// </summary>
    public async Task PublishRedeliveredAsync(TaskMessage task)
    {
        await PublishAsync(task);
        var taken = await Poll.Until(async () => await _channel.BasicGetAsync(TaskQueue, autoAck: false), TimeSpan.FromSeconds(30),
            () => $"task {task.TaskId} did not reach {TaskQueue}");
        await _channel.BasicNackAsync(taken.DeliveryTag, multiple: false, requeue: true);
    }

    /// <summary>Messages waiting in the task queue (not counting deliveries a worker holds).</summary>
    public Task<uint> ReadyCountAsync() => _channel.MessageCountAsync(TaskQueue);

    public List<TaskResultMessage> ResultsFor(Guid taskId) =>
        _events.SelectMany(e => e.Event.AllResults()).Where(r => r.TaskId == taskId).ToList();

    public List<(TaskStartedMessage Started, int? Pid)> StartsOf(Guid taskId) =>
        _events.Where(e => e.Event.Started?.TaskId == taskId).Select(e => (e.Event.Started!, e.Event.Pid)).ToList();

    /// <summary>The task's result once it arrives; fails the test with <paramref name="describe"/> at the deadline.</summary>
    public Task<TaskResultMessage> ResultAsync(Guid taskId, TimeSpan timeout, Func<string> describe) =>
        Poll.Until(() => Task.FromResult(ResultsFor(taskId).FirstOrDefault()), timeout, () => $"no result for task {taskId}: {describe()}");

    /// <summary>Deletes the UEP's broker user: its connections close and every reconnect is refused.</summary>
    public Task DeleteUserAsync() => ManagementAsync(HttpMethod.Delete, $"api/users/{UepUser}", null);

    public async ValueTask DisposeAsync()
    {
        await _channel.QueueDeleteAsync(TaskQueue);
        await ManagementAsync(HttpMethod.Delete, $"api/users/{UepUser}", null, allowNotFound: true);
        await _channel.DisposeAsync();
        await _admin.DisposeAsync();
    }

    private async Task ManagementAsync(HttpMethod method, string path, JsonObject? body, bool allowNotFound = false)
    {
        using var http = _node.ManagementClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{_node.AdminUser}:{_node.AdminPassword}")));
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
