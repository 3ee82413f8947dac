namespace Mep.Tests.Infrastructure;

/// <summary>
/// Waiting on real processes and brokers: poll a condition until a deadline, never a fixed sleep. The one polling
/// loop of the test suite; the helpers elsewhere are shapes of it.
/// </summary>
public static class Poll
{
    /// <summary>True once the condition holds; false when the deadline passes first.</summary>
    /// <remarks>An infinite timeout leaves the bound to <paramref name="ct"/>, which then throws when it fires.</remarks>
    public static async Task<bool> TryUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, CancellationToken ct = default)
    {
        var deadline = timeout == Timeout.InfiniteTimeSpan ? DateTime.MaxValue : DateTime.UtcNow + timeout;
        var delay = TimeSpan.FromMilliseconds(10);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(delay, ct);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 250));
        }

        return true;
    }

    public static Task<bool> TryUntilAsync(Func<bool> condition, TimeSpan timeout, CancellationToken ct = default) =>
        TryUntilAsync(() => Task.FromResult(condition()), timeout, ct);

    /// <summary>The probe's first non-null value; throws with the description when the deadline passes.</summary>
    public static async Task<T> Until<T>(Func<Task<T?>> probe, TimeSpan timeout, Func<string> describe)
        where T : class
    {
        T? found = null;
        if (await TryUntilAsync(async () => (found = await probe()) is not null, timeout))
        {
            return found!;
        }

        throw new TimeoutException($"gave up after {timeout}: {describe()}");
    }

    public static Task UntilTrue(Func<Task<bool>> probe, TimeSpan timeout, Func<string> describe) =>
        Until<object>(async () => await probe() ? new object() : null, timeout, describe);
}
