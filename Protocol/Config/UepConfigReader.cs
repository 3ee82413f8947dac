using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Mep.Protocol.Config;

/// <summary>
/// Reads a rendered config (as JSON) into <see cref="UepConfig"/>. Strict: an unknown key, a wrong type or a bad value
/// is a <see cref="UepConfigException"/> naming the key path, because a key we ignore is a setting the admin or user
/// believes is in force. A key given as null counts as absent (a template's <c>key: {{ x }}</c> with x null).
/// </summary>
public static partial class UepConfigReader
{
    /// <summary>AMQP's prefetch count is 16 bits; the UEP uses this as its prefetch.</summary>
    public const int MaxWorkersLimit = ushort.MaxValue;

    private static readonly string[] TopKeys =
    [
        "display_name", "engine", "endpoint_setup", "endpoint_teardown", "idle_heartbeats_soft", "idle_heartbeats_hard",
        "heartbeat_period", "allowed_functions",
    ];

    private static readonly string[] EngineKeys = ["type", "max_workers_per_node", "provider", "prefetch_capacity"];

    private static readonly string[] SlurmOnlyKeys = ["partition", "account", "qos", "walltime", "scheduler_options", "exclusive"];

    private static readonly string[] ProviderKeys =
    [
        "type", "partition", "account", "qos", "walltime", "nodes_per_block", "init_blocks", "min_blocks", "max_blocks",
        "worker_init", "scheduler_options", "exclusive",
    ];

    public static UepConfig Read(JsonObject? config)
    {
        if (config is null)
        {
            return UepConfig.Empty;
        }

        CheckKeys(config, TopKeys, "");
        return new UepConfig(
            String(config, "display_name", ""),
            Engine(Object(config, "engine", "")),
            String(config, "endpoint_setup", ""),
            String(config, "endpoint_teardown", ""),
            Integer(config, "idle_heartbeats_soft", "", 0, int.MaxValue),
            Integer(config, "idle_heartbeats_hard", "", 0, int.MaxValue),
            PositiveNumber(config, "heartbeat_period", ""),
            FunctionIds(config, "allowed_functions", ""));
    }

    private static EngineConfig Engine(JsonObject? engine)
    {
        if (engine is null)
        {
            return EngineConfig.Empty;
        }

        CheckKeys(engine, EngineKeys, "engine.");
        var type = String(engine, "type", "engine.");
        if (type is not null and not "GlobusComputeEngine")
        {
            throw new UepConfigException("engine.type", $"must be GlobusComputeEngine (the only engine), got {Describe(engine["type"])}");
        }

        return new EngineConfig(
            type,
            Integer(engine, "max_workers_per_node", "engine.", 1, MaxWorkersLimit),
            Provider(Object(engine, "provider", "engine.")),
            Integer(engine, "prefetch_capacity", "engine.", 0, MaxWorkersLimit));
    }

    private static ProviderConfig? Provider(JsonObject? provider)
    {
        const string at = "engine.provider.";
        if (provider is null)
        {
            return null;
        }

        CheckKeys(provider, ProviderKeys, at);
        var type = String(provider, "type", at) switch
        {
            null => throw new UepConfigException(at + "type", "is required (local or slurm)"),
            "local" or "LocalProvider" => ProviderType.Local,
            "slurm" or "SlurmProvider" => ProviderType.Slurm,
            _ => throw new UepConfigException(at + "type", $"must be local or slurm, got {Describe(provider["type"])}"),
        };

        if (type == ProviderType.Local)
        {
            foreach (var key in SlurmOnlyKeys)
            {
                if (provider[key] is not null)
                {
                    throw new UepConfigException(at + key, "is a Slurm setting; the local provider has none");
                }
            }
        }

        var walltime = String(provider, "walltime", at);
        if (walltime is not null && !SlurmTime().IsMatch(walltime))
        {
            throw new UepConfigException(at + "walltime", "must be a Slurm time limit such as 30, 01:00:00 or 2-00:00:00");
        }

        var result = new ProviderConfig(
            type,
            String(provider, "partition", at),
            String(provider, "account", at),
            String(provider, "qos", at),
            walltime,
            Integer(provider, "nodes_per_block", at, 1, int.MaxValue),
            Integer(provider, "init_blocks", at, 0, int.MaxValue),
            Integer(provider, "min_blocks", at, 0, int.MaxValue),
            Integer(provider, "max_blocks", at, 0, int.MaxValue),
            String(provider, "worker_init", at),
            String(provider, "scheduler_options", at),
            Boolean(provider, "exclusive", at));
        if (result.MinBlocks is { } min && result.MaxBlocks is { } max && min > max)
        {
            throw new UepConfigException(at + "min_blocks", $"must not exceed max_blocks ({max})");
        }

        if (result.InitBlocks is { } init && result.MaxBlocks is { } max2 && init > max2)
        {
            throw new UepConfigException(at + "init_blocks", $"must not exceed max_blocks ({max2})");
        }

        return result;
    }

    private static void CheckKeys(JsonObject o, string[] known, string at)
    {
        foreach (var (key, _) in o)
        {
            if (!known.Contains(key, StringComparer.Ordinal))
            {
                throw new UepConfigException(at + key, "is not a known setting");
            }
        }
    }

    private static JsonObject? Object(JsonObject o, string key, string at) => o[key] switch
    {
        null => null,
        JsonObject child => child,
        var other => throw new UepConfigException(at + key, $"must be a mapping, got {Describe(other)}"),
    };

    private static string? String(JsonObject o, string key, string at) => o[key] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        var other => throw new UepConfigException(at + key, $"must be a string, got {Describe(other)}"),
    };

    private static bool? Boolean(JsonObject o, string key, string at) => o[key] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
        var other => throw new UepConfigException(at + key, $"must be true or false, got {Describe(other)}"),
    };

    private static int? Integer(JsonObject o, string key, string at, int min, int max)
    {
        var node = o[key];
        if (node is null)
        {
            return null;
        }

        // The JSON text, not the CLR value: a node built in code (int-backed) and one parsed from text both work.
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number
            && long.TryParse(v.ToJsonString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
            && n >= min && n <= max)
        {
            return (int)n;
        }

        var range = max == int.MaxValue
            ? (min == 0 ? "a non-negative integer" : $"an integer of at least {min}")
            : $"an integer from {min} to {max}";
        throw new UepConfigException(at + key, $"must be {range}, got {Describe(node)}");
    }

    private static double? PositiveNumber(JsonObject o, string key, string at)
    {
        var node = o[key];
        if (node is null)
        {
            return null;
        }

        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number
            && double.TryParse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
            && double.IsFinite(d) && d > 0 && d <= 7 * 86400)
        {
            return d;
        }

        throw new UepConfigException(at + key, $"must be a positive number of seconds up to a week, got {Describe(node)}");
    }

    private static IReadOnlyList<Guid>? FunctionIds(JsonObject o, string key, string at)
    {
        var node = o[key];
        if (node is null)
        {
            return null;
        }

        if (node is not JsonArray list)
        {
            throw new UepConfigException(at + key, $"must be a list of function ids, got {Describe(node)}");
        }

        var ids = new List<Guid>(list.Count);
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i] is JsonValue v && v.GetValueKind() == JsonValueKind.String && Guid.TryParse(v.GetValue<string>(), out var id))
            {
                ids.Add(id);
            }
            else
            {
                throw new UepConfigException($"{at}{key}[{i}]", $"must be a function id (UUID), got {Describe(list[i])}");
            }
        }

        return ids;
    }

    // Values come from the user's own config or the admin's template; naming them helps, but keep it short.
    private static string Describe(JsonNode? node)
    {
        var text = node?.ToJsonString() ?? "null";
        return text.Length <= 40 ? text : text[..40] + "...";
    }

    // Slurm's --time forms: minutes, mm:ss, hh:mm:ss, d-hh, d-hh:mm, d-hh:mm:ss.
    // \z, not $: $ also matches before a final newline, which would reach the batch script.
    [GeneratedRegex(@"^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d{1,2}(:\d{1,2}){0,2})\z")]
    private static partial Regex SlurmTime();
}
