using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Mep.Grains.UserConfig;

/// <summary>
/// One text per JSON value, so equal configs hash alike wherever and whenever they are hashed: object keys sorted by
/// ordinal, no whitespace, integral numbers written as integers (64 and 64.0 are the same config), other numbers in
/// round-trip form, strings with the serializer's default escaping.
/// </summary>
public static class CanonicalJson
{
    public static string Write(JsonNode? node)
    {
        var sb = new StringBuilder();
        Append(sb, node);
        return sb.ToString();
    }

    private static void Append(StringBuilder sb, JsonNode? node)
    {
        switch (node)
        {
            case null:
                sb.Append("null");
                break;
            case JsonObject o:
                sb.Append('{');
                var first = true;
                foreach (var (key, value) in o.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    if (!first)
                    {
                        sb.Append(',');
                    }

                    first = false;
                    sb.Append(JsonSerializer.Serialize(key)).Append(':');
                    Append(sb, value);
                }

                sb.Append('}');
                break;
            case JsonArray a:
                sb.Append('[');
                for (var i = 0; i < a.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(',');
                    }

                    Append(sb, a[i]);
                }

                sb.Append(']');
                break;
            case JsonValue v:
                AppendValue(sb, v);
                break;
        }
    }

    private static void AppendValue(StringBuilder sb, JsonValue v)
    {
        var element = v.GetValue<JsonElement>();
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                sb.Append(JsonSerializer.Serialize(element.GetString()));
                break;
            case JsonValueKind.True:
                sb.Append("true");
                break;
            case JsonValueKind.False:
                sb.Append("false");
                break;
            case JsonValueKind.Number:
                if (element.TryGetDecimal(out var dec) && dec == decimal.Truncate(dec))
                {
                    sb.Append(decimal.Truncate(dec).ToString("0", CultureInfo.InvariantCulture));
                }
                else
                {
                    sb.Append(element.GetDouble().ToString("R", CultureInfo.InvariantCulture));
                }

                break;
            default:
                sb.Append("null");
                break;
        }
    }
}
