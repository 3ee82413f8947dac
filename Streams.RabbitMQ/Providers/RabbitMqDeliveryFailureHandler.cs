using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using Orleans.Streams;

namespace Mep.Streams.RabbitMQ.Providers;

/// <summary>
/// Called by the pulling agent when an event could not be delivered to a subscriber within its
/// <c>MaxEventDeliveryTime</c>: the agent then skips the event, so unless it is kept here it would be lost. It goes
/// to the dead-letter queue with the reason, and the stream carries on. Subscriptions are not faulted: one poison
/// event must not silence a stream (implicit subscriptions are never faulted anyway).
/// </summary>
internal sealed class RabbitMqDeliveryFailureHandler(
    QueueId queueId, RabbitMqReceiverRegistry receivers, ILogger logger) : IStreamFailureHandler
{
    public bool ShouldFaultSubsriptionOnError => false;

    public async Task OnDeliveryFailure(GuidId subscriptionId, string streamProviderName, StreamId streamId,
        StreamSequenceToken? sequenceToken)
    {
        var reason = $"delivery to subscription {subscriptionId} of stream {streamId} kept failing until the pulling agent gave up";
        if (sequenceToken is not RabbitMqSequenceToken token || receivers.Find(queueId) is not { } receiver)
        {
            logger.LogError("RabbitMQ stream provider {Provider}: {Reason}; event {Token} is no longer held by this silo",
                streamProviderName, reason, sequenceToken);
            return;
        }
        if (!await receiver.DeadLetterAsync(token.SequenceNumber, reason, subscriptionId.ToString()).ConfigureAwait(false))
        {
            logger.LogWarning("RabbitMQ stream provider {Provider}: {Reason}; event {Token} was not dead-lettered here (already handled, or its channel closed and the broker will redeliver it)",
                streamProviderName, reason, token);
        }
    }

    public Task OnSubscriptionFailure(GuidId subscriptionId, string streamProviderName, StreamId streamId,
        StreamSequenceToken? sequenceToken)
    {
        logger.LogError("RabbitMQ stream provider {Provider}: subscription {Subscription} to stream {Stream} failed at {Token}",
            streamProviderName, subscriptionId, streamId, sequenceToken);
        return Task.CompletedTask;
    }
}
