using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Scriban.Runtime;

namespace Mep.Grains.UserConfig;

/// <summary>
/// Turns a value printed by a template into YAML that can only ever be that one value: strings become JSON string
/// literals (valid YAML flow scalars, non-ASCII as \uXXXX), lists and objects JSON flow collections. So a user's
/// <c>"x\nallowed_functions: [abc]"</c> stays one string and never becomes a new key.
/// </summary>
internal static class ValueEscaper
{
    private static readonly JsonSerializerOptions AsciiJson = new() { Encoder = JavaScriptEncoder.Default };

    public static string Escape(object? value)
    {
        var sb = new StringBuilder();
        Append(sb, value, depth: 0);
        return sb.ToString();
    }

    private static void Append(StringBuilder sb, object? value, int depth)
    {
        if (depth > 32)
        {
            throw new InvalidOperationException("value nested too deeply");
        }

        switch (value)
        {
            case null:
                sb.Append("null");
                break;
            case string s:
                sb.Append(JsonSerializer.Serialize(s, AsciiJson));
                break;
            case bool b:
                sb.Append(b ? "true" : "false");
                break;
            case int or long or short or byte or sbyte or uint or ulong or ushort or decimal or System.Numerics.BigInteger:
                sb.Append(Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
            case double or float:
                var d = Convert.ToDouble(value, CultureInfo.InvariantCulture);
                sb.Append(double.IsFinite(d) ? d.ToString("R", CultureInfo.InvariantCulture) : "null");
                break;
            case ScriptObject obj:
                sb.Append('{');
                var first = true;
                foreach (var key in obj.Keys.OrderBy(k => k, StringComparer.Ordinal))
                {
                    if (!first)
                    {
                        sb.Append(", ");
                    }

                    first = false;
                    sb.Append(JsonSerializer.Serialize(key, AsciiJson)).Append(": ");
                    Append(sb, obj[key], depth + 1);
                }

                sb.Append('}');
                break;
            case IEnumerable list:
                sb.Append('[');
                var firstItem = true;
                foreach (var item in list)
                {
                    if (!firstItem)
                    {
                        sb.Append(", ");
                    }

                    firstItem = false;
                    Append(sb, item, depth + 1);
                }

                sb.Append(']');
                break;
            default:
                // Templates only ever see data we built from JSON; anything else is a bug, not something to print.
                throw new InvalidOperationException($"cannot render a value of type {value.GetType().Name}");
        }
    }
}
