using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mep.Bench;

/// <summary>
/// One benchmark event. External publishers send it as a JSON body (as UEPs send their results); Orleans producers
/// send the record itself. <see cref="Round"/> tells the counter which measurement it belongs to, so leftovers of an
/// earlier round or run are never counted; <see cref="Data"/> pads the body to the configured message size.
/// </summary>
[GenerateSerializer, Immutable, Alias("mep.bench.event")]
public sealed record BenchEvent(
    [property: Id(0)] int Round,
    [property: Id(1)] string Stream,
    [property: Id(2)] int Sequence,
    [property: Id(3)] string Data)
{
    public static BenchEvent Parse(ReadOnlySpan<byte> json) =>
        JsonSerializer.Deserialize(json, BenchJson.Default.BenchEvent) ?? throw new JsonException("null event");

    /// <summary>The JSON body, padded so that it is exactly <paramref name="size"/> bytes (or minimal, if that is smaller).</summary>
    public static byte[] Body(int round, string stream, int sequence, int size)
    {
        var bare = JsonSerializer.SerializeToUtf8Bytes(new BenchEvent(round, stream, sequence, ""), BenchJson.Default.BenchEvent);
        var padding = Math.Max(0, size - bare.Length);
        return JsonSerializer.SerializeToUtf8Bytes(new BenchEvent(round, stream, sequence, new string('x', padding)),
            BenchJson.Default.BenchEvent);
    }
}

[JsonSerializable(typeof(BenchEvent))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
internal sealed partial class BenchJson : JsonSerializerContext;
