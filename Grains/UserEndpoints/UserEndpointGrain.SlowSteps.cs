using Microsoft.Extensions.Logging;

namespace Mep.Grains.UserEndpoints;

/// <summary>
/// A dispatch round holds this grain (its timer does not interleave), so while one of its steps waits, this UEP's
/// events wait too, and past the event stream's prefetch so does every UEP on the same event partition. A step that
/// is still waiting after <see cref="SlowStepAfter"/> is logged while it waits, naming the step, so an operator (and
/// a failing test's log) can see what holds it.
/// </summary>
public sealed partial class UserEndpointGrain
{
    private static readonly TimeSpan SlowStepAfter = TimeSpan.FromSeconds(5);

    private async Task Step(string step, Task task)
    {
        if (!task.IsCompleted)
        {
            await WarnIfSlowAsync(step, task);
        }

        await task;
    }

    private async Task<T> Step<T>(string step, Task<T> task)
    {
        if (!task.IsCompleted)
        {
            await WarnIfSlowAsync(step, task);
        }

        return await task;
    }

    private async Task WarnIfSlowAsync(string step, Task task)
    {
        var started = DateTimeOffset.UtcNow;
        using var cts = new CancellationTokenSource();
        var delay = Task.Delay(SlowStepAfter, cts.Token);
        while (await Task.WhenAny(task, delay) == delay)
        {
            LogSlowStep(_logger, UepId, step, DateTimeOffset.UtcNow - started);
            delay = Task.Delay(SlowStepAfter, cts.Token);
        }

        await cts.CancelAsync();
    }

    [LoggerMessage(EventId = 4020, Level = LogLevel.Warning,
        Message = "User endpoint {UepId}: dispatch step '{Step}' still waiting after {Elapsed}; this UEP's events wait behind it")]
    private static partial void LogSlowStep(ILogger logger, string uepId, string step, TimeSpan elapsed);
}
