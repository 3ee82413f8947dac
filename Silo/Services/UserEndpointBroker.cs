using Mep.Grains.Broker;
using Mep.Grains.UserEndpoints;
using Mep.Protocol.Messages;
using Microsoft.Extensions.Options;
using StartCredentials = Mep.Protocol.Launcher.BrokerCredentials;

namespace Mep.Silo.Services;

/// <summary>The broker as a user endpoint grain sees it, over the management API and the confirmed publisher.</summary>
public sealed class UserEndpointBroker(BrokerAdmin admin, TaskPublisher publisher, IOptions<BrokerOptions> options) : IUserEndpointBroker
{
    public Task EnsureTaskQueueAsync(string uepId, CancellationToken ct) => admin.EnsureTaskQueueAsync(uepId, ct);

    public async Task<StartCredentials> MintCredentialsAsync(string uepId, CancellationToken ct)
    {
        var (username, password) = await admin.MintUepCredentialsAsync(uepId, ct);
        var o = options.Value;
        return new StartCredentials(
            o.Host,
            o.AmqpPort,
            o.VirtualHost,
            username,
            password,
            BrokerNames.TaskQueue(uepId),
            BrokerNames.EventsExchange,
            o.EventsRoutingKey(uepId),
            BrokerNames.EventStreamNamespace,
            uepId,
            o.Tls,
            string.IsNullOrWhiteSpace(o.CaFile) ? null : o.CaFile);
    }

    public Task PublishTasksAsync(string uepId, IReadOnlyList<TaskMessage> tasks, int bundleSize, CancellationToken ct) =>
        publisher.PublishAsync(uepId, tasks, ct, bundleSize);

    public async Task<bool> RepairTaskQueueAsync(string uepId, CancellationToken ct)
    {
        switch (await admin.GetTaskQueueStateAsync(uepId, ct))
        {
            case null:
                break;
            case "" or "down":
                // Deleting a queue with no running process takes the broker a few seconds (it gives up on the Raft
                // cluster, then removes the record and any data).
                await admin.DeleteTaskQueueAsync(uepId, ct);
                break;
            default:
                return false;
        }
        await admin.EnsureTaskQueueAsync(uepId, ct);
        return true;
    }

    public async Task RevokeAsync(string uepId, bool deleteQueue, CancellationToken ct)
    {
        await admin.DeleteUepUserAsync(uepId, ct);
        if (deleteQueue)
        {
            await admin.DeleteTaskQueueAsync(uepId, ct);
        }
    }
}
