using Microsoft.Extensions.Logging;

namespace Mep.Grains.UserEndpoints;

/// <summary>
/// A durable watchdog: while tasks are pending, a reminder wakes this grain every <see cref="WatchdogPeriod"/>, on
/// whichever silo it then lives. Timers die with their silo; a reminder is kept by the cluster (in the database with
/// PostgreSQL), so after a node's loss or a restart of the whole cluster no user endpoint with work is forgotten:
/// the tick makes it check its process with its node's launcher and start it again (elsewhere) when it is gone.
/// </summary>
public sealed partial class UserEndpointGrain
{
    private const string WatchdogReminder = "watchdog";
    private static readonly TimeSpan WatchdogPeriod = TimeSpan.FromMinutes(1);

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != WatchdogReminder)
        {
            return;
        }

        if (Pending.Count == 0)
        {
            // Results do not write the state, so the last one left the watchdog on: it goes now.
            await SaveAsync();
            return;
        }

        // Ask the launcher again: the process or its whole node may be gone without anyone having told us.
        _reconciled = false;
        ScheduleDispatch(TimeSpan.Zero);
    }

    /// <summary>Registers the watchdog when tasks are pending and removes it when none are; called with every save.</summary>
    private async Task SyncWatchdogAsync()
    {
        var wanted = Pending.Count > 0;
        if (wanted == S.Watchdog)
        {
            return;
        }

        try
        {
            if (wanted)
            {
                await this.RegisterOrUpdateReminder(WatchdogReminder, WatchdogPeriod, WatchdogPeriod);
            }
            else if (await this.GetReminder(WatchdogReminder) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }

            S.Watchdog = wanted;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The tasks are durable either way; without the watchdog only a lost node or cluster could delay them.
            _logger.LogWarning(e, "Could not {Change} the watchdog of user endpoint {UepId}; retrying at the next save",
                wanted ? "register" : "remove", UepId);
        }
    }
}
