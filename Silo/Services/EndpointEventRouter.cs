using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Protocol.Messages;

namespace Mep.Silo.Services;

/// <summary>
/// Delivers what UEPs send back to their grains. The consumer has already checked that the broker user who sent an
/// event owns the UEP it names; the grain checks that a result's task is one of its own.
/// </summary>
public sealed class EndpointEventRouter(IGrainFactory grains)
{
    public Task RouteAsync(EndpointEvent ev, CancellationToken ct)
    {
        var grain = grains.GetGrain<IUserEndpointGrain>(ev.UepId);
        return ev.Kind switch
        {
            EndpointEventKind.Result when ev.Result is { } r => grain.OnResult(r.TaskId, ToOutcome(r)),
            EndpointEventKind.Result => Task.CompletedTask,
            EndpointEventKind.Started => grain.OnSignal(new UserEndpointSignal(UserEndpointSignalKind.Started, ev.SentAt, ev.Heartbeat?.Pid, ev.Reason)),
            EndpointEventKind.Heartbeat => grain.OnSignal(new UserEndpointSignal(UserEndpointSignalKind.Heartbeat, ev.SentAt, ev.Heartbeat?.Pid, ev.Reason)),
            EndpointEventKind.Stopping => grain.OnSignal(new UserEndpointSignal(UserEndpointSignalKind.Stopping, ev.SentAt, ev.Heartbeat?.Pid, ev.Reason)),
            _ => Task.CompletedTask,
        };
    }

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
}
