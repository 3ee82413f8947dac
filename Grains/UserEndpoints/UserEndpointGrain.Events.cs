using System.Text.Json;
using Mep.Contracts.Model;
using Mep.Grains.Audit;
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
        await handleFactory.Create<RabbitMqStreamMessage>().ResumeAsync(OnEventsAsync);

    /// <summary>
    /// The events the stream delivers in one call (up to <see cref="Broker.MepEventStreams"/>' batch size), in order.
    /// Results are staged and recorded together, in one write, before any other kind of event is handled and before
    /// the call returns: one commit for a burst of results instead of one each, and the broker keeps every event
    /// until what it reported is stored.
    /// </summary>
    private async Task OnEventsAsync(IList<SequentialItem<RabbitMqStreamMessage>> events)
    {
        try
        {
            foreach (var item in events)
            {
                await OnEventAsync(item.Item, item.Token);
            }

            await RecordStagedEndsAsync();
        }
        finally
        {
            // The starts not yet written with other entries: a redelivered batch would find them known and not stage them again.
            await FlushStagedStartsAsync();
        }
    }

    /// <summary>
    /// Only this UEP's own broker user can have sent an event that counts: the broker lets a user-id through only
    /// when it is the publisher's own user, and each UEP has one. Anything else is refused and audited. A body
    /// that is not an endpoint event is dropped with a warning naming it (only the UEP itself could have sent it).
    /// </summary>
    private async Task OnEventAsync(RabbitMqStreamMessage message, StreamSequenceToken? token)
    {
        var owner = BrokerNames.UepUser(UepId);
        if (message.UserId != owner)
        {
            await RefuseForeignEventAsync(message);
            return;
        }
        EndpointEvent ev;
        try
        {
            ev = ProtocolJson.Deserialize<EndpointEvent>(message.Body);
        }
        catch (JsonException e)
        {
            // Dropped here, not thrown: the stream delivers events in batches, and a throw would fail the others too.
            LogUnreadableEvent(_logger, UepId, message.MessageId, e.Message);
            return;
        }
        if (ev.UepId != UepId)
        {
            LogMisaddressedEvent(_logger, UepId, ev.UepId, message.MessageId);
            return;
        }
        if (ev is { Kind: EndpointEventKind.Result, Result: { } result })
        {
            await StageResultAsync(result);
            return;
        }

        if (ev is { Kind: EndpointEventKind.Results, Results: { } results })
        {
            foreach (var each in results)
            {
                await StageResultAsync(each);
            }

            return;
        }

        if (ev.Kind != EndpointEventKind.TaskStarted)
        {
            // A lifecycle signal may change and write the state: the results before it are recorded first.
            await RecordStagedEndsAsync();
        }

        await (ev.Kind switch
        {
            EndpointEventKind.TaskStarted when ev.Started is { } started => OnTaskStarted(started),
            EndpointEventKind.Started => OnStartedAsync(ev),
            EndpointEventKind.Heartbeat => OnSignal(Signal(UserEndpointSignalKind.Heartbeat, ev)),
            EndpointEventKind.Stopping => OnSignal(Signal(UserEndpointSignalKind.Stopping, ev)),
            _ => Unreadable($"{ev.Kind} without its payload"),
        });

        Task Unreadable(string error)
        {
            LogUnreadableEvent(_logger, UepId, message.MessageId, error);
            return Task.CompletedTask;
        }
    }

    private Task OnStartedAsync(EndpointEvent ev)
    {
        NoteStarted(ev);
        return OnSignal(Signal(UserEndpointSignalKind.Started, ev));
    }

    private async Task StageResultAsync(TaskResultMessage result)
    {
        ObserveRunTime(result);
        if (result.Started is { } start)
        {
            // A short task's start travels with its result: the timeline shows it running all the same.
            await OnTaskStarted(start);
        }

        StageEnd(result.TaskId, ToOutcome(result));
    }

    /// <summary>
    /// Someone else's broker user (or none) wrote to this UEP's stream: the event is dropped, and the attempt goes to
    /// the audit log as well as the service log, since it means a UEP (or a broker account) is misbehaving.
    /// </summary>
    private async Task RefuseForeignEventAsync(RabbitMqStreamMessage message)
    {
        var sender = message.UserId ?? "(none)";
        LogForgedEvent(_logger, UepId, sender, message.MessageId);
        await _audit.WriteAsync(new AuditEntry(
            DateTimeOffset.UtcNow,
            S.Spec?.EndpointId ?? "",
            "event",
            AuditEntry.Refused,
            403,
            $"event {message.MessageId ?? "(no id)"} sent by broker user {sender}, which does not own this user endpoint",
            S.Spec?.IdentityId ?? "",
            sender,
            [],
            LocalUser: S.Spec?.LocalUsername,
            UserEndpointId: UepId));
    }

    private static UserEndpointSignal Signal(UserEndpointSignalKind kind, EndpointEvent ev) =>
        new(kind, ev.SentAt, ev.Pid ?? ev.Heartbeat?.Pid, ev.Reason);

    /// <summary>The outcome as reported; a return value that is not JSON (the UEP runs as the user, who could send
    /// anything) fails the task instead of reaching API readers as text they cannot parse.</summary>
    private static TaskOutcome ToOutcome(TaskResultMessage r)
    {
        var outcome = Reported(r);
        return r.ReturnValue is { } value && !IsJson(value)
            ? outcome with { State = TaskOutcomeState.Failed, ReturnValueJson = null, Error = "the endpoint reported a return value that is not JSON" }
            : outcome;
    }

    private static bool IsJson(string text)
    {
        try
        {
            using var _ = JsonDocument.Parse(text);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static TaskOutcome Reported(TaskResultMessage r) => new(
        r.State == TaskState.Success ? TaskOutcomeState.Success : TaskOutcomeState.Failed,
        r.ReturnCode,
        r.Stdout,
        r.Stderr,
        r.OutputTruncated,
        r.Error,
        r.Hostname,
        r.Username,
        r.Uid,
        r.CompletedAt,
        r.ReturnValue,
        r.Exception is { } e ? new TaskException(e.Type, e.Message, e.Traceback) : null);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning,
        Message = "AUDIT refused event {MessageId} on the stream of UEP {UepId}: sent by broker user {BrokerUser}, which does not own it")]
    private static partial void LogForgedEvent(ILogger logger, string uepId, string brokerUser, string? messageId);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning,
        Message = "Dropped event {MessageId} on the stream of UEP {UepId}: not an endpoint event ({Error})")]
    private static partial void LogUnreadableEvent(ILogger logger, string uepId, string? messageId, string error);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning,
        Message = "AUDIT refused event {MessageId} on the stream of UEP {UepId}: its body names UEP {ClaimedUepId}")]
    private static partial void LogMisaddressedEvent(ILogger logger, string uepId, string claimedUepId, string? messageId);
}
