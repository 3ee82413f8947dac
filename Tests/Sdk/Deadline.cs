namespace Mep.Tests.Sdk;

/// <summary>Waiting for a condition by polling it against a deadline, never by sleeping a fixed time.</summary>
internal static class Deadline
{
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? within = null)
    {
        var end = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(20));
        while (!condition())
        {
            if (DateTime.UtcNow > end)
            {
                throw new TimeoutException($"timed out waiting until {what}");
            }

            await Task.Delay(10);
        }
    }

    /// <summary>Awaits a task with a generous bound, so a bug fails the test instead of hanging the run.</summary>
    public static Task<T> Within<T>(this Task<T> task, int seconds = 20) => task.WaitAsync(TimeSpan.FromSeconds(seconds));

    public static Task Within(this Task task, int seconds = 20) => task.WaitAsync(TimeSpan.FromSeconds(seconds));
}
