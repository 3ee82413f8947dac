using System.Globalization;
using System.Text.Json.Nodes;
using Mep.Protocol.Config;
using Mep.Protocol.Launcher;

namespace Mep.Endpoint;

/// <summary>How this UEP behaves, from the start document and the user's rendered config.</summary>
/// <param name="MaxWorkers">Tasks run at once; also the broker prefetch, so the broker never hands us more.</param>
/// <param name="BrokerRecoveryDeadline">How long a lost broker connection may take to recover before we give up.</param>
internal sealed record EndpointSettings(
    int MaxWorkers,
    TimeSpan HeartbeatPeriod,
    TimeSpan IdleTimeout,
    TimeSpan BrokerRecoveryDeadline)
{
    public const int DefaultMaxWorkers = 4;

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

        return new EndpointSettings(
            ParseMaxWorkers(doc.Config),
            Seconds(doc.HeartbeatPeriodSeconds, "heartbeat_period_seconds"),
            Seconds(doc.IdleTimeoutSeconds, "idle_timeout_seconds"),
            recovery);
    }

    /// <summary>
    /// <c>engine.max_workers_per_node</c> when present, else 4. The whole config is read with the shared model, so a
    /// config the silo would not have accepted is refused here too rather than half-used.
    /// </summary>
    public static int ParseMaxWorkers(JsonObject? config)
    {
        try
        {
            return UepConfigReader.Read(config).Engine.MaxWorkersPerNode ?? DefaultMaxWorkers;
        }
        catch (UepConfigException e)
        {
            throw new StartDocumentException($"config.{e.Message}");
        }
    }

    private static TimeSpan Seconds(double seconds, string name)
    {
        // Upper bound: a week is far beyond any sane heartbeat period or idle timeout, and keeps timers in range.
        if (!double.IsFinite(seconds) || seconds <= 0 || seconds > 7 * 86400)
        {
            throw new StartDocumentException($"{name} must be a positive number of seconds up to a week, got {seconds.ToString(CultureInfo.InvariantCulture)}");
        }

        return TimeSpan.FromSeconds(seconds);
    }
}
