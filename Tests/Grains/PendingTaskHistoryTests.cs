using Mep.Contracts.Model;
using Mep.Grains.UserEndpoints;
using Xunit;

namespace Mep.Tests.Grains;

/// <summary>
/// The timeline a UEP grain hands to the task grain with a task's end. Building it must not change the pending task:
/// when the task grain cannot be reached (its silo just died), the task stays pending as it was, and the end recorded
/// later must appear once (the cluster failover test saw "success" twice before).
/// </summary>
public sealed class PendingTaskHistoryTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static PendingTask Running()
    {
        var pending = new PendingTask { Task = new QueuedTask(Guid.NewGuid(), Guid.NewGuid(), "true", new Dictionary<string, string>(), 60, 1000, T0) };
        pending.Enter(TaskProgressState.Received, T0);
        pending.Enter(TaskProgressState.Running, T0.AddSeconds(1));
        return pending;
    }

    [Fact]
    public void The_end_is_in_the_copy_and_not_in_the_pending_task()
    {
        var pending = Running();
        var history = pending.HistoryEndingIn(TaskProgressState.Success, T0.AddSeconds(2));

        Assert.Equal([TaskProgressState.Received, TaskProgressState.Running, TaskProgressState.Success], history.Transitions.Select(t => t.State));
        Assert.Equal(TaskProgressState.Running, pending.LastState());
    }

    [Fact]
    public void A_failed_attempt_to_record_the_end_leaves_no_trace_in_a_later_one()
    {
        var pending = Running();
        _ = pending.HistoryEndingIn(TaskProgressState.Success, T0.AddSeconds(2)); // the call that failed
        pending.Enter(TaskProgressState.WaitingForEndpoint, T0.AddSeconds(3)); // the UEP restarted elsewhere
        pending.Enter(TaskProgressState.Running, T0.AddSeconds(4));
        var recorded = pending.HistoryEndingIn(TaskProgressState.Success, T0.AddSeconds(5));

        Assert.Single(recorded.Transitions, t => t.State == TaskProgressState.Success);
        Assert.Equal(T0.AddSeconds(5), recorded.Transitions[^1].At);
    }

    [Fact]
    public void An_end_already_last_is_not_repeated()
    {
        var pending = Running();
        pending.Enter(TaskProgressState.Failed, T0.AddSeconds(2));
        Assert.Single(pending.HistoryEndingIn(TaskProgressState.Failed, T0.AddSeconds(3)).Transitions, t => t.State == TaskProgressState.Failed);
    }
}
