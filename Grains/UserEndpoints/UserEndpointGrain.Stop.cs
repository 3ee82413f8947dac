using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains.Endpoints;
using Mep.Grains.Tasks;
using Microsoft.Extensions.Logging;

namespace Mep.Grains.UserEndpoints;

/// <summary>
/// Stopping a user endpoint on request (its owner or an endpoint admin, through the API): SIGTERM through the launcher,
/// SIGKILL once the endpoint's <c>stop_grace_period</c> has passed without an exit. The UEP is then held: it does not
/// start again, even for tasks it kept, until new work arrives.
/// </summary>
public sealed partial class UserEndpointGrain
{
    private const int SigKillExit = 128 + 9;

    private IGrainTimer? _killTimer;

    public async Task<UserEndpointSnapshot> Stop(string requestedBy)
    {
        var now = DateTimeOffset.UtcNow;
        var lifecycle = Lifecycle();
        var reason = $"stopped by {requestedBy}";
        S.Held = true;
        S.NextAttemptAt = null;
        var revoked = false;
        if (lifecycle.TasksOnStop == TasksOnStop.Fail && Pending.Count > 0)
        {
            await FailPendingAsync(reason);
            // Copies already in the broker queue must not run at the next start; the workers lose their connection now.
            await RevokeAsync(deleteQueue: true);
            revoked = true;
        }

        if (HasProcess())
        {
            // A second stop while the first is under way changes nothing: the first one's grace period runs.
            var request = S.StopRequest ?? new StopRequest(requestedBy, now);
            await TerminateAsync(request, $"stopped by {request.RequestedBy}; stopping (SIGTERM, SIGKILL after {Seconds(lifecycle.StopGracePeriod)} s)");
        }
        else
        {
            if (S.Phase == UserEndpointPhase.Stopped)
            {
                S.Reason = reason;
            }

            await SaveAsync();
            if (S.Phase != UserEndpointPhase.Failed && !revoked)
            {
                await RevokeAsync(deleteQueue: false);
            }

            _logger.LogInformation("User endpoint {UepId} {Reason}; no process was running", UepId, reason);
        }

        return await GetSnapshot();
    }

    private bool HasProcess() => S.Phase is UserEndpointPhase.Starting or UserEndpointPhase.Running or UserEndpointPhase.Stopping && S.Pid is not null;

    /// <summary>SIGTERM to the live process now, SIGKILL at the end of the grace period; the exit finishes the stop.</summary>
    private async Task TerminateAsync(StopRequest request, string reason)
    {
        var pid = S.Pid;
        S.StopRequest = request;
        S.Phase = UserEndpointPhase.Stopping;
        S.Reason = reason;
        await SaveAsync();
        try
        {
            await NodeLauncher(ProcessNode()).Stop(S.Spec!.EndpointId, UepId, kill: false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Unreachable launcher, or the process is already gone (its exit is on its way): the kill after the
            // grace period tries again, and an exit settles it either way.
            _logger.LogWarning("SIGTERM to user endpoint {UepId} (pid {Pid}) failed: {Message}", UepId, pid, e.Message);
        }

        ArmKillAfterGrace();
        _logger.LogInformation("User endpoint {UepId} (pid {Pid}) {Reason}: SIGTERM sent", UepId, pid, reason);
    }

    /// <summary>The process of a requested stop has exited: the UEP stops, held, with who stopped it as the reason.</summary>
    private async Task FinishStopAsync(StopRequest stop, int? exitCode)
    {
        var now = DateTimeOffset.UtcNow;
        _killTimer?.Dispose();
        _killTimer = null;
        S.StopRequest = null;
        S.Pid = null;
        S.ProcessStartedAt = null;
        S.Phase = stop.FailWith is null ? UserEndpointPhase.Stopped : UserEndpointPhase.Failed;
        S.FailedStarts = 0;
        S.NextAttemptAt = null;
        S.Reason = stop.FailWith ?? (exitCode == SigKillExit
            ? $"stopped by {stop.RequestedBy}; killed (SIGKILL) after the {Seconds(Lifecycle().StopGracePeriod)} s grace period"
            : $"stopped by {stop.RequestedBy}");
        LeftByProcess(now);
        // Its workers were stopped with it and handed their tasks back to the broker queue: those wait for the next start.
        foreach (var pending in Pending.Where(p => p.LastState() == TaskProgressState.Running))
        {
            pending.Enter(TaskProgressState.WaitingForEndpoint, now);
        }

        await SaveAsync();
        _logger.LogInformation("User endpoint {UepId} {Reason} (exit code {ExitCode})", UepId, S.Reason, exitCode);
        if (S.Held || Pending.Count == 0)
        {
            await RevokeAsync(deleteQueue: false);
            LetGoWhenIdle();
        }
        else
        {
            // Work arrived while it was stopping: that is a reason to start again.
            ScheduleDispatch(TimeSpan.Zero);
        }
    }

    /// <summary>While a requested stop is under way: SIGKILL at the end of its grace period (re-armed on activation).</summary>
    private void ArmKillAfterGrace()
    {
        if (S.StopRequest is not { } stop || S.Pid is not { } pid)
        {
            return;
        }

        _killTimer?.Dispose();
        var due = stop.At + Lifecycle().StopGracePeriod - DateTimeOffset.UtcNow;
        _killTimer = this.RegisterGrainTimer(
            ct => KillAsync(pid, ct),
            new GrainTimerCreationOptions(due > TimeSpan.Zero ? due : TimeSpan.Zero, Timeout.InfiniteTimeSpan) { Interleave = false, KeepAlive = true });
    }

    private async Task KillAsync(int pid, CancellationToken ct)
    {
        if (S.StopRequest is null || S.Pid != pid || S.Spec is not { } spec)
        {
            return;
        }

        _logger.LogWarning("User endpoint {UepId} (pid {Pid}) did not exit within its grace period; sending SIGKILL", UepId, pid);
        try
        {
            await NodeLauncher(ProcessNode()).Stop(spec.EndpointId, UepId, kill: true);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // The launcher is unreachable (or the process just exited): try again shortly, until an exit settles it.
            _logger.LogWarning("SIGKILL to user endpoint {UepId} (pid {Pid}) failed: {Message}; retrying", UepId, pid, e.Message);
            _killTimer?.Change(TimeSpan.FromSeconds(5), Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Fails every pending task with <paramref name="reason"/>; the UEP's phase is the caller's business.</summary>
    private async Task FailPendingAsync(string reason)
    {
        var now = DateTimeOffset.UtcNow;
        var failed = Pending.ToList();
        var recorded = await _tasks.CompleteAsync(
            failed.Select(p => new TaskEnd(p.Task.TaskId, TaskOutcome.FailedBy(reason, now), p.HistoryEndingIn(TaskProgressState.Failed, now))).ToList());
        await AuditTasksEndedAsync(failed.Where((_, i) => recorded[i]), TaskOutcome.FailedBy(reason, now)); // audit trail
        Pending.Clear();
        await SaveAsync();
        _logger.LogInformation("User endpoint {UepId}: {Count} tasks failed ({Reason})", UepId, failed.Count, reason);
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
}
