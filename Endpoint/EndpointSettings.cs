using System.Globalization;
using System.Text.Json.Nodes;
using Mep.Protocol.Config;
using Mep.Protocol.Launcher;

namespace Mep.Endpoint;

/// <summary>How this UEP behaves, from the start document and the user's rendered config.</summary>
/// <param name="MaxWorkers">Tasks one worker runs at once (<c>max_workers_per_node</c>); also its broker prefetch.</param>
/// <param name="BrokerRecoveryDeadline">How long a lost broker connection may take to recover before we give up.</param>
/// <param name="Config">The whole rendered config, read with the shared model.</param>
/// <param name="AllowedFunctions">What this UEP may run: the endpoint's list narrowed by the config's; null: anything.</param>
/// <param name="HeartbeatPeriod">The config's <c>heartbeat_period</c>, else the endpoint's.</param>
/// <param name="IdleTimeout">Soft idleness: no task waiting or running for this long stops the UEP.
/// <c>idle_heartbeats_soft</c> × the heartbeat period when the config sets it, else the endpoint's <c>idle_timeout</c>.</param>
/// <param name="HardIdleTimeout">Hard idleness: no task started, ended or arrived for this long stops the UEP even
/// when its workers still report tasks running (stuck ones). <c>idle_heartbeats_hard</c> (default 5760, Globus
/// Compute's: two days at 30 s) × the heartbeat period.</param>
internal sealed record EndpointSettings(
    int MaxWorkers,
    TimeSpan HeartbeatPeriod,
    TimeSpan IdleTimeout,
    TimeSpan BrokerRecoveryDeadline,
    UepConfig Config,
    IReadOnlyList<Guid>? AllowedFunctions,
    TimeSpan HardIdleTimeout)
{
    public const int DefaultMaxWorkers = 4;

    /// <summary>Globus Compute's default: with no-op tasks a worker that fetches only what it runs spends most of its
    /// time waiting for the next delivery (one broker round trip per task).</summary>
    public const int DefaultPrefetchCapacity = 10;

    /// <summary>Unacknowledged tasks one worker holds: the ones it runs and <c>engine.prefetch_capacity</c> more (AMQP
    /// prefetch, 16 bits).</summary>
    public ushort WorkerPrefetch => (ushort)Math.Min(ushort.MaxValue, (long)MaxWorkers + (Config.Engine.PrefetchCapacity ?? DefaultPrefetchCapacity));

    public const int DefaultIdleHeartbeatsHard = 5760;

    public static readonly TimeSpan DefaultBrokerRecoveryDeadline = TimeSpan.FromSeconds(60);

    /// <summary>Operator (and test) override of <see cref="DefaultBrokerRecoveryDeadline"/>, in seconds.</summary>
    public const string BrokerRecoveryVariable = "MEP_UEP_BROKER_RECOVERY_SECONDS";

    public static EndpointSettings FromStartDocument(UepStartDocument doc, Func<string, string?>? environment = null)
    {
        var recovery = DefaultBrokerRecoveryDeadline;
        if ((environment ?? Environment.GetEnvironmentVariable)(BrokerRecoveryVariable) is { } text)
        {
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
            {
                throw new StartDocumentException($"{BrokerRecoveryVariable} must be a number of seconds");
            }

            recovery = Seconds(seconds, BrokerRecoveryVariable);
        }

        var config = ReadConfig(doc.Config);
        var period = config.HeartbeatPeriod is { } p ? Seconds(p, "config.heartbeat_period") : Seconds(doc.HeartbeatPeriodSeconds, "heartbeat_period_seconds");
        var soft = config.IdleHeartbeatsSoft is > 0 and var n
            ? Seconds(n * period.TotalSeconds, "config.idle_heartbeats_soft × heartbeat_period")
            : Seconds(doc.IdleTimeoutSeconds, "idle_timeout_seconds");
        var hard = Seconds((config.IdleHeartbeatsHard is > 0 and var h ? h : DefaultIdleHeartbeatsHard) * period.TotalSeconds,
            "config.idle_heartbeats_hard × heartbeat_period", max: double.MaxValue);
        return new EndpointSettings(
            config.Engine.MaxWorkersPerNode ?? DefaultMaxWorkers,
            period,
            soft,
            recovery,
            config,
            Allowed(doc.AllowedFunctions, config.AllowedFunctions),
            hard);
    }

    /// <summary>
    /// The endpoint's list (empty: any) narrowed by the config's (null: no narrowing). Both given: only functions on
    /// both, which may be none at all.
    /// </summary>
    public static IReadOnlyList<Guid>? Allowed(IReadOnlyList<Guid> endpoint, IReadOnlyList<Guid>? config) =>
        (endpoint.Count, config) switch
        {
            (0, null) => null,
            (0, { } c) => c.Distinct().ToList(),
            (_, null) => endpoint.Distinct().ToList(),
            (_, { } c) => endpoint.Intersect(c).ToList(),
        };

    private static UepConfig ReadConfig(JsonObject? config)
    {
        try
        {
            return UepConfigReader.Read(config);
        }
        catch (UepConfigException e)
        {
            throw new StartDocumentException($"config.{e.Message}");
        }
    }

    /// <summary><c>engine.max_workers_per_node</c> when present, else 4; the whole config must be valid.</summary>
    public static int ParseMaxWorkers(JsonObject? config) => ReadConfig(config).Engine.MaxWorkersPerNode ?? DefaultMaxWorkers;

    private static TimeSpan Seconds(double seconds, string name, double max = 7 * 86400)
    {
        // Upper bound: a week is far beyond any sane heartbeat period or idle timeout, and keeps timers in range.
        // The hard idle limit may be longer (it is a safety net): it is only compared, never used as a timer.
        if (!double.IsFinite(seconds) || seconds <= 0 || seconds > Math.Min(max, TimeSpan.MaxValue.TotalSeconds / 2))
        {
            throw new StartDocumentException($"{name} must be a positive number of seconds up to a week, got {seconds.ToString(CultureInfo.InvariantCulture)}");
        }

        return TimeSpan.FromSeconds(seconds);
    }
}
