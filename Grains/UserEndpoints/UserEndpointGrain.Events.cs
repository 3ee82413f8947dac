using System.Text.Json;
using Mep.Contracts.Model;
using Mep.Protocol;
using Mep.Protocol.Messages;
using Mep.Streams.RabbitMQ;
using Microsoft.Extensions.Logging;
using Orleans.Streams;
using Orleans.Streams.Core;

namespace Mep.Grains.UserEndpoints;

/// <summary>
/// What the UEP process sends back (results, heartbeats, lifecycle signals) arrives on this UEP's event stream:
/// <c>mep.uep/{uep id}</c> on <see cref="Broker.MepEventStreams.Provider"/>, through an implicit subscription.
/// Events are handled as calls of this grain, so they never interleave with lifecycle steps.
/// </summary>
public sealed partial class UserEndpointGrain
{
    public async Task OnSubscribed(IStreamSubscriptionHandleFactory handleFactory) =>
        await handleFactory.Create<RabbitMqStreamMessage>().ResumeAsync(OnEventAsync);

    /// <summary>
    /// Only this UEP's own broker user can have sent an event that counts: the broker lets a user-id through only
    /// when it is the publisher's own user, and each UEP has one. Anything else is refused and audited. A body
    /// that is not an endpoint event throws, so the provider dead-letters it with the reason.
    /// </summary>
    private Task OnEventAsync(RabbitMqStreamMessage message, StreamSequenceToken? token)
    {
        var owner = BrokerNames.UepUser(UepId);
        if (message.UserId != owner)
        {
            LogForgedEvent(_logger, UepId, message.UserId ?? "(none)", message.MessageId);
            return Task.CompletedTask;
        }
        EndpointEvent ev;
        try
        {
            ev = ProtocolJson.Deserialize<EndpointEvent>(message.Body);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"event {message.MessageId} of UEP {UepId} is not an endpoint event: {e.Message}", e);
        }
        if (ev.UepId != UepId)
        {
            LogMisaddressedEvent(_logger, UepId, ev.UepId, message.MessageId);
            return Task.CompletedTask;
        }
        return ev.Kind switch
        {
            EndpointEventKind.Result when ev.Result is { } r => OnResult(r.TaskId, ToOutcome(r)),
            EndpointEventKind.Started => OnSignal(Signal(UserEndpointSignalKind.Started, ev)),
            EndpointEventKind.Heartbeat => OnSignal(Signal(UserEndpointSignalKind.Heartbeat, ev)),
            EndpointEventKind.Stopping => OnSignal(Signal(UserEndpointSignalKind.Stopping, ev)),
            _ => throw new InvalidDataException($"event {message.MessageId} of UEP {UepId}: {ev.Kind} without its payload"),
        };
    }

    private static UserEndpointSignal Signal(UserEndpointSignalKind kind, EndpointEvent ev) =>
        new(kind, ev.SentAt, ev.Pid ?? ev.Heartbeat?.Pid, ev.Reason);

    private static TaskOutcome ToOutcome(TaskResultMessage r) => new(
        r.State == TaskState.Success ? TaskOutcomeState.Success : TaskOutcomeState.Failed,
        r.ReturnCode,
        r.Stdout,
        r.Stderr,
        r.OutputTruncated,
        r.Error,
        r.Hostname,
        r.Username,
        r.Uid,
        r.CompletedAt);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning,
        Message = "AUDIT refused event {MessageId} on the stream of UEP {UepId}: sent by broker user {BrokerUser}, which does not own it")]
    private static partial void LogForgedEvent(ILogger logger, string uepId, string brokerUser, string? messageId);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning,
        Message = "AUDIT refused event {MessageId} on the stream of UEP {UepId}: its body names UEP {ClaimedUepId}")]
    private static partial void LogMisaddressedEvent(ILogger logger, string uepId, string claimedUepId, string? messageId);
}
