using Mep.Endpoint;
using Mep.Protocol.Messages;
using Xunit;

namespace Mep.Tests.Endpoint;

public sealed class TaskTrackerTests
{
    private static TaskResultMessage Result(Guid id) =>
        new(id, TaskState.Success, 0, "", "", false, null, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, "h", 1000, "u");

    [Fact]
    public void Duplicate_while_running_joins_and_is_acked_with_it_then_later_ones_are_acked_without_running()
    {
        var t = new TaskTracker();
        var id = Guid.NewGuid();

        Assert.Equal(TaskTracker.Decision.Run, t.Begin(id, 1, out _));
        Assert.Equal(TaskTracker.Decision.Joined, t.Begin(id, 2, out _));
        Assert.Equal(1, t.Running);
        Assert.Equal([1UL, 2UL], t.Complete(id));
        Assert.Equal(0, t.Running);
        Assert.Equal(1, t.Completed);
        Assert.Equal(TaskTracker.Decision.AlreadyCompleted, t.Begin(id, 3, out _));
    }

    [Fact]
    public void Unpublished_result_is_kept_for_the_redelivery()
    {
        var t = new TaskTracker();
        var id = Guid.NewGuid();
        t.Begin(id, 1, out _);

        Assert.Equal([1UL], t.Release(id, Result(id)));
        Assert.Equal(TaskTracker.Decision.PublishKept, t.Begin(id, 7, out var kept));
        Assert.Equal(id, kept!.TaskId);
        Assert.Equal([7UL], t.Complete(id));
    }

    [Fact]
    public void Interrupted_task_runs_again_on_redelivery()
    {
        var t = new TaskTracker();
        var id = Guid.NewGuid();
        t.Begin(id, 1, out _);

        Assert.Equal([1UL], t.Release(id, null));
        Assert.Equal(TaskTracker.Decision.Run, t.Begin(id, 2, out _));
    }

    [Fact]
    public void Remembers_a_bounded_number_of_completed_tasks()
    {
        var t = new TaskTracker(rememberCompleted: 2);
        var ids = Enumerable.Range(0, 3).Select(_ => Guid.NewGuid()).ToList();
        foreach (var id in ids)
        {
            t.Begin(id, 1, out _);
            t.Complete(id);
        }

        Assert.Equal(TaskTracker.Decision.Run, t.Begin(ids[0], 9, out _));
        Assert.Equal(TaskTracker.Decision.AlreadyCompleted, t.Begin(ids[2], 9, out _));
    }
}
