using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Mep.Protocol;

/// <summary>
/// One JSON dialect for every wire format MEP owns: snake_case names, explicit nulls, no indentation.
/// Shared so that the silo, the launcher, the UEP program and the SDK can never disagree on a field name.
/// </summary>
public static class ProtocolJson
{
    public static readonly JsonSerializerOptions Options = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            DictionaryKeyPolicy = null,
            // Nulls are written: a reader that requires every constructor parameter must see them.
            DefaultIgnoreCondition = JsonIgnoreCondition.Never,
            WriteIndented = false,
            // Unknown members are an error: a typo in a request must not be silently ignored.
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
            // A missing required field or a null where none is allowed is an error naming the field, not a null later.
            RespectNullableAnnotations = true,
            RespectRequiredConstructorParameters = true,
        };
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false));
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    public static byte[] SerializeToUtf8<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Options);

    public static T Deserialize<T>(ReadOnlySpan<byte> utf8) =>
        JsonSerializer.Deserialize<T>(utf8, Options) ?? throw new JsonException($"empty {typeof(T).Name} document");

    public static T Deserialize<T>(string json) =>
        JsonSerializer.Deserialize<T>(json, Options) ?? throw new JsonException($"empty {typeof(T).Name} document");

    // The same calls with source-generated metadata (ProtocolJsonContext and the programs' own contexts): no
    // reflection, so the Native AOT programs use these.
    public static byte[] SerializeToUtf8<T>(T value, JsonTypeInfo<T> type) => JsonSerializer.SerializeToUtf8Bytes(value, type);

    public static T Deserialize<T>(ReadOnlySpan<byte> utf8, JsonTypeInfo<T> type) =>
        JsonSerializer.Deserialize(utf8, type) ?? throw new JsonException($"empty {typeof(T).Name} document");

    public static T Deserialize<T>(string json, JsonTypeInfo<T> type) =>
        JsonSerializer.Deserialize(json, type) ?? throw new JsonException($"empty {typeof(T).Name} document");
}
