using Mep.Grains.Broker;
using Microsoft.Extensions.Logging;

namespace Mep.Grains.UserEndpoints;

/// <summary>
/// A task queue that does not take publishes. The broker lists such a queue but runs no working process for it (a
/// declaration cut short when the silo that declared it died), so it would fail every retry: it is declared afresh,
/// every unfinished task goes out again, and a running UEP process, whose workers subscribed to the dead queue, is
/// restarted.
/// </summary>
public sealed partial class UserEndpointGrain
{
    private async Task PublishOrRepairAsync(IReadOnlyList<Protocol.Messages.TaskMessage> messages)
    {
        try
        {
            await Step("publish tasks", _broker.PublishTasksAsync(UepId, messages, BundleSize(), CallDeadline()));
        }
        catch (TaskPublishException)
        {
            // Unconfirmed in time, rejected or returned: a queue that is missing or that the broker runs no working
            // process for answers so, and every retry would too. A working queue is left as it is.
            await RepairTaskQueueAsync();
            throw;
        }
    }

    private async Task RepairTaskQueueAsync()
    {
        if (!await Step("check the task queue", _broker.RepairTaskQueueAsync(UepId, CallDeadline())))
        {
            return;
        }

        // Whatever the old queue held is gone with it. A task a worker took from it before it broke may run twice:
        // the UEP drops a copy it has seen, and a restarted one runs it again, which beats losing it.
        var republish = 0;
        foreach (var pending in Pending.Where(p => p.Published))
        {
            pending.Published = false;
            pending.Unsaved = true;
            republish++;
        }

        LogQueueRepaired(_logger, UepId, republish);
        await Step("save progress", SaveProgressAsync());
        if (HasProcess() && S.StopRequest is null)
        {
            // Not held: the exit finishes the stop and the pending tasks start a new process.
            await TerminateAsync(new StopRequest("mep (task queue declared again)", DateTimeOffset.UtcNow),
                "restarting: its task queue was declared again");
        }
    }

    [LoggerMessage(EventId = 4021, Level = LogLevel.Warning,
        Message = "User endpoint {UepId}: the broker ran no process for its task queue (a declaration cut short); declared it again and will publish {Tasks} tasks again")]
    private static partial void LogQueueRepaired(ILogger logger, string uepId, int tasks);
}
