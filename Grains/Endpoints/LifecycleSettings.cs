namespace Mep.Grains.Endpoints;

/// <summary>What happens to a stopped user endpoint's unfinished tasks.</summary>
public enum TasksOnStop
{
    /// <summary>They stay queued (the broker gets running ones back from the workers) and run at the next start.</summary>
    Requeue,

    /// <summary>They fail with the stop as the reason.</summary>
    Fail,
}

/// <summary>
/// How an endpoint's user endpoints are started, retried, stopped and limited (config.yaml keys, all optional).
/// </summary>
/// <param name="MaxStartAttempts">Consecutive failed starts after which the UEP is failed with its pending tasks.</param>
/// <param name="StartRetryDelay">Wait before the second attempt; doubled for each further attempt.</param>
/// <param name="StartRetryDelayMax">Cap of the doubling.</param>
/// <param name="StopGracePeriod">Between SIGTERM and SIGKILL when a UEP is stopped.</param>
/// <param name="MaxUserEndpointsPerUser">Live UEPs (queued work or a process) one local account may have here.</param>
/// <param name="MaxStartsPerMinute">UEP starts one local account may cause here within any 60 s.</param>
/// <param name="MaxConcurrentStarts">UEPs starting at once (launched, not yet reporting) through one launcher.</param>
public sealed record LifecycleSettings(
    int MaxStartAttempts,
    TimeSpan StartRetryDelay,
    TimeSpan StartRetryDelayMax,
    TimeSpan StopGracePeriod,
    TasksOnStop TasksOnStop,
    int MaxUserEndpointsPerUser,
    int MaxStartsPerMinute,
    int MaxConcurrentStarts)
{
    public static LifecycleSettings Default { get; } = new(3, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(30),
        TasksOnStop.Requeue, 10, 20, 8);

    /// <summary>The wait before attempt <paramref name="failedStarts"/> + 1: 1 s, 2 s, 4 s … up to the cap.</summary>
    public TimeSpan RetryDelay(int failedStarts)
    {
        var doublings = Math.Clamp(failedStarts - 1, 0, 30);
        var ticks = Math.Min(StartRetryDelay.Ticks * Math.Pow(2, doublings), StartRetryDelayMax.Ticks);
        return TimeSpan.FromTicks((long)Math.Max(ticks, StartRetryDelay.Ticks));
    }

    internal static LifecycleSettings Read(EndpointConfigFile file, string configPath)
    {
        var d = Default;
        int Count(int? value, int fallback, string name, int max) =>
            value is null ? fallback
            : value is >= 1 && value <= max ? value.Value
            : throw new InvalidOperationException($"{configPath}: {name} must be between 1 and {max}");

        var settings = new LifecycleSettings(
            Count(file.MaxStartAttempts, d.MaxStartAttempts, "max_start_attempts", 100),
            file.StartRetryDelay is null ? d.StartRetryDelay : Durations.Parse(file.StartRetryDelay, "start_retry_delay"),
            file.StartRetryDelayMax is null ? d.StartRetryDelayMax : Durations.Parse(file.StartRetryDelayMax, "start_retry_delay_max"),
            file.StopGracePeriod is null ? d.StopGracePeriod : Durations.Parse(file.StopGracePeriod, "stop_grace_period"),
            file.TasksOnStop switch
            {
                null or "requeue" => TasksOnStop.Requeue,
                "fail" => TasksOnStop.Fail,
                var other => throw new InvalidOperationException($"{configPath}: tasks_on_stop must be requeue or fail, not '{other}'"),
            },
            Count(file.MaxUserEndpointsPerUser, d.MaxUserEndpointsPerUser, "max_user_endpoints_per_user", 10_000),
            Count(file.MaxStartsPerMinute, d.MaxStartsPerMinute, "max_starts_per_minute", 100_000),
            Count(file.MaxConcurrentStarts, d.MaxConcurrentStarts, "max_concurrent_starts", 10_000));
        if (settings.StartRetryDelayMax < settings.StartRetryDelay)
        {
            throw new InvalidOperationException($"{configPath}: start_retry_delay_max must not be shorter than start_retry_delay");
        }

        if (settings.StopGracePeriod > TimeSpan.FromHours(1))
        {
            throw new InvalidOperationException($"{configPath}: stop_grace_period must be at most 1h");
        }

        return settings;
    }
}
