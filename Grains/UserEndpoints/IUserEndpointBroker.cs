using Mep.Protocol.Launcher;
using Mep.Protocol.Messages;

namespace Mep.Grains.UserEndpoints;

/// <summary>What a user endpoint grain needs of the broker: its queue, its own credentials, and task delivery.</summary>
public interface IUserEndpointBroker
{
    Task EnsureTaskQueueAsync(string uepId, CancellationToken ct);

    /// <summary>A fresh broker user for this UEP that can read only its task queue and publish only its results.</summary>
    Task<BrokerCredentials> MintCredentialsAsync(string uepId, CancellationToken ct);

    /// <summary>Publishes with publisher confirms; returns once the broker has confirmed every message.</summary>
    /// <param name="bundleSize">Tasks per message (1: each alone); above 1 only for a UEP that takes task bundles.</param>
    Task PublishTasksAsync(string uepId, IReadOnlyList<TaskMessage> tasks, int bundleSize, CancellationToken ct);

    /// <summary>
    /// When the broker lists the UEP's task queue but runs no process for it (see
    /// <see cref="Broker.BrokerAdmin.GetTaskQueueStateAsync"/>), or has lost it, deletes it and declares it afresh.
    /// Returns whether it did: the queue is then empty, whatever was published to it is gone.
    /// </summary>
    Task<bool> RepairTaskQueueAsync(string uepId, CancellationToken ct);

    /// <summary>Deletes the UEP's broker user (closing its connections) and, if asked, its task queue.</summary>
    Task RevokeAsync(string uepId, bool deleteQueue, CancellationToken ct);
}
