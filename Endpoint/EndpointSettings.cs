using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
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
    public const string MaxWorkersKey = "max_workers_per_node";
    public const int DefaultMaxWorkers = 4;

    // Prefetch count is a 16-bit field in AMQP.
    private const int MaxMaxWorkers = ushort.MaxValue;

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
    /// <c>max_workers_per_node</c> when present, else 4. A present but unusable value is an error rather than a
    /// silent default: the user asked for something specific. A string of digits is accepted because a config
    /// converted from YAML may carry numbers as strings.
    /// </summary>
    public static int ParseMaxWorkers(JsonObject? config)
    {
        if (config is null || !config.TryGetPropertyValue(MaxWorkersKey, out var node) || node is null)
        {
            return DefaultMaxWorkers;
        }

        long? value = null;
        if (node is JsonValue v)
        {
            // Parse the JSON text: a value built in code (int-backed) and one parsed from a document both work.
            if (v.GetValueKind() == JsonValueKind.Number
                && long.TryParse(v.ToJsonString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
            {
                value = n;
            }
            else if (v.GetValueKind() == JsonValueKind.String
                     && long.TryParse(v.GetValue<string>(), NumberStyles.None, CultureInfo.InvariantCulture, out var s))
            {
                value = s;
            }
        }

        if (value is not { } workers || workers < 1 || workers > MaxMaxWorkers)
        {
            throw new StartDocumentException($"config.{MaxWorkersKey} must be an integer from 1 to {MaxMaxWorkers}, got {Describe(node)}");
        }

        return (int)workers;
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

    // The config is the user's own, so naming the value is not a leak; keep it short anyway.
    private static string Describe(JsonNode node)
    {
        var text = node.ToJsonString();
        return text.Length <= 40 ? text : text[..40] + "...";
    }
}
