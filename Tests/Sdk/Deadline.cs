namespace Mep.Tests.Sdk;

/// <summary>Waiting for a condition by polling it against a deadline, never by sleeping a fixed time.</summary>
internal static class Deadline
{
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? within = null)
    {
        if (!await Mep.Tests.Infrastructure.Poll.TryUntilAsync(condition, within ?? TimeSpan.FromSeconds(20)))
        {
            throw new TimeoutException($"timed out waiting until {what}");
        }
    }

    /// <summary>Awaits a task with a generous bound, so a bug fails the test instead of hanging the run.</summary>
    public static Task<T> Within<T>(this Task<T> task, int seconds = 20) => task.WaitAsync(TimeSpan.FromSeconds(seconds));

    public static Task Within(this Task task, int seconds = 20) => task.WaitAsync(TimeSpan.FromSeconds(seconds));

    /// <summary>For <c>await using</c>: shuts the executor down waiting for its results, but fails instead of hanging.</summary>
    public static IAsyncDisposable Bounded(this Mep.Sdk.Executor executor, int seconds = 20) => new BoundedShutdown(executor, seconds);

    private sealed class BoundedShutdown(Mep.Sdk.Executor executor, int seconds) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
            await executor.ShutdownAsync(waitForResults: true, limit.Token);
            await executor.DisposeAsync();
        }
    }
}
