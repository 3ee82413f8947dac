using Mep.Endpoint.Worker;
using Mep.Protocol.Messages;
using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.Endpoint;

/// <summary>
/// The worker's result batching, against a publish the test holds open: what a publish carries depends only on what was
/// waiting when it began, so no timing is involved.
/// </summary>
public sealed class ResultBatcherTests
{
    private static TaskResultMessage Result(string stdout = "") =>
        new(Guid.NewGuid(), TaskState.Success, 0, stdout, "", false, null, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, "h", 1000, "u");

    /// <summary>Records each publish and lets the test decide when (and how) it ends.</summary>
    private sealed class HeldPublishes
    {
        public List<(IReadOnlyList<TaskResultMessage> Batch, TaskCompletionSource Confirm)> Calls { get; } = [];

        public Task Publish(IReadOnlyList<TaskResultMessage> batch)
        {
            var confirm = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (Calls)
            {
                Calls.Add((batch, confirm));
            }

            return confirm.Task;
        }

        public (IReadOnlyList<TaskResultMessage> Batch, TaskCompletionSource Confirm) Call(int i)
        {
            lock (Calls)
            {
                return Calls[i];
            }
        }

        public int Count
        {
            get
            {
                lock (Calls)
                {
                    return Calls.Count;
                }
            }
        }
    }

    [Fact]
    public async Task A_result_with_nothing_in_flight_goes_at_once_and_alone()
    {
        var held = new HeldPublishes();
        var batcher = new ResultBatcher(held.Publish);
        var result = Result();

        var sent = batcher.SendAsync(result);

        Assert.Equal(1, held.Count); // published within the call, not later by another thread
        Assert.Equal([result], held.Call(0).Batch);
        Assert.False(sent.IsCompleted); // not before the broker confirmed it
        held.Call(0).Confirm.SetResult();
        await sent.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Results_ending_while_a_publish_waits_go_together_in_the_next_one_in_order()
    {
        var held = new HeldPublishes();
        var batcher = new ResultBatcher(held.Publish);
        var first = batcher.SendAsync(Result());
        var later = Enumerable.Range(0, 3).Select(_ => Result()).ToList();
        var laterSent = later.Select(batcher.SendAsync).ToList();
        Assert.Equal(1, held.Count);

        held.Call(0).Confirm.SetResult();
        await first.WaitAsync(TimeSpan.FromSeconds(10));
        await Poll.UntilTrue(() => Task.FromResult(held.Count == 2), TimeSpan.FromSeconds(10), () => "the waiting results were never published");
        Assert.Equal(later, held.Call(1).Batch);
        Assert.All(laterSent, t => Assert.False(t.IsCompleted));

        held.Call(1).Confirm.SetResult();
        await Task.WhenAll(laterSent).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(2, held.Count);
    }

    [Fact]
    public async Task A_failed_publish_fails_every_result_it_carried_and_the_next_batch_still_goes()
    {
        var held = new HeldPublishes();
        var batcher = new ResultBatcher(held.Publish);
        var first = batcher.SendAsync(Result());
        var second = batcher.SendAsync(Result());
        var third = batcher.SendAsync(Result());
        held.Call(0).Confirm.SetResult();
        await first.WaitAsync(TimeSpan.FromSeconds(10));
        await Poll.UntilTrue(() => Task.FromResult(held.Count == 2), TimeSpan.FromSeconds(10), () => "the second batch was never published");

        var fourth = batcher.SendAsync(Result()); // ends while the failing publish is in flight
        held.Call(1).Confirm.SetException(new TimeoutException("no confirm"));
        await Assert.ThrowsAsync<TimeoutException>(() => second.WaitAsync(TimeSpan.FromSeconds(10)));
        await Assert.ThrowsAsync<TimeoutException>(() => third.WaitAsync(TimeSpan.FromSeconds(10)));

        await Poll.UntilTrue(() => Task.FromResult(held.Count == 3), TimeSpan.FromSeconds(10), () => "the batch after the failure was never published");
        held.Call(2).Confirm.SetResult();
        await fourth.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_batch_is_cut_at_its_count_and_its_size_but_a_large_result_still_goes_alone()
    {
        var held = new HeldPublishes();
        var batcher = new ResultBatcher(held.Publish, maxResults: 2, maxBytes: 64 * 1024);
        var blocker = batcher.SendAsync(Result());
        var small = Enumerable.Range(0, 3).Select(_ => Result()).ToList();
        var large = Result(new string('x', 20 * 1024)); // ~120 KiB at worst: over the limit on its own
        var sent = small.Append(large).Select(batcher.SendAsync).ToList();

        for (var i = 0; i < 3; i++)
        {
            held.Call(i).Confirm.SetResult();
            await Poll.UntilTrue(() => Task.FromResult(held.Count == i + 2), TimeSpan.FromSeconds(10), () => $"publish {i + 2} never came");
        }

        Assert.Equal(small.Take(2), held.Call(1).Batch); // count limit
        Assert.Equal([small[2]], held.Call(2).Batch); // the large one does not fit beside it
        Assert.Equal([large], held.Call(3).Batch);
        held.Call(3).Confirm.SetResult();
        await Task.WhenAll(sent.Append(blocker)).WaitAsync(TimeSpan.FromSeconds(10));
    }
}
