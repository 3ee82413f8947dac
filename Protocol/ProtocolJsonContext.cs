using System.Text.Json;
using System.Text.Json.Serialization;
using Mep.Protocol.Launcher;
using Mep.Protocol.Messages;

namespace Mep.Protocol;

/// <summary>
/// Source-generated metadata for the wire types that the Native AOT programs (mep-endpoint, mep-launcher) read and
/// write, where <see cref="ProtocolJson.Options"/>' reflection is not available. Same dialect as those options, setting
/// for setting (a test compares both on every type here); the silo keeps using the options.
/// </summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    WriteIndented = false,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    Converters =
    [
        typeof(KebabCaseEnumConverter<EndpointEventKind>),
        typeof(KebabCaseEnumConverter<TaskState>),
        typeof(KebabCaseEnumConverter<FunctionKind>),
        typeof(KebabCaseEnumConverter<LauncherOp>),
        typeof(KebabCaseEnumConverter<LauncherEventKind>),
    ])]
[JsonSerializable(typeof(UepStartDocument))]
[JsonSerializable(typeof(TaskMessage))]
[JsonSerializable(typeof(List<TaskMessage>))]
[JsonSerializable(typeof(EndpointEvent))]
[JsonSerializable(typeof(LauncherRequest))]
[JsonSerializable(typeof(LauncherResponse))]
[JsonSerializable(typeof(LauncherEvent))]
public sealed partial class ProtocolJsonContext : JsonSerializerContext
{
    /// <summary>
    /// A mutable copy of this dialect (with <paramref name="converters"/> added, for a program's own enums), to build a
    /// program's own context for its private file formats in the same dialect: <c>new XContext(ProtocolJsonContext.Dialect(…))</c>.
    /// </summary>
    public static JsonSerializerOptions Dialect(params JsonConverter[] converters)
    {
        var options = new JsonSerializerOptions(Default.Options) { TypeInfoResolver = null };
        foreach (var converter in converters)
        {
            options.Converters.Add(converter);
        }

        return options;
    }
}

/// <summary>
/// <see cref="ProtocolJson.Options"/>' enum converter (kebab-case strings, no integers) for one enum type: the
/// generic form is what source generation can instantiate without reflection.
/// </summary>
public sealed class KebabCaseEnumConverter<TEnum>() : JsonStringEnumConverter<TEnum>(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false)
    where TEnum : struct, Enum;
