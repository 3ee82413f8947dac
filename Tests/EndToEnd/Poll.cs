namespace Mep.Tests.EndToEnd;

/// <summary>Waiting on real processes: poll a condition until a deadline, never a fixed sleep.</summary>
public static class Poll
{
    public static async Task<T> Until<T>(Func<Task<T?>> probe, TimeSpan timeout, Func<string> describe)
        where T : class
    {
        var deadline = DateTime.UtcNow + timeout;
        var delay = TimeSpan.FromMilliseconds(20);
        while (true)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"gave up after {timeout}: {describe()}");
            }

            await Task.Delay(delay);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 500));
        }
    }

    public static Task UntilTrue(Func<Task<bool>> probe, TimeSpan timeout, Func<string> describe) =>
        Until<object>(async () => await probe() ? new object() : null, timeout, describe);
}
