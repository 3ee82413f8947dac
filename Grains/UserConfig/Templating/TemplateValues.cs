using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Scriban.Runtime;

namespace Mep.Grains.UserConfig.Templating;

/// <summary>
/// User values enter the template already escaped, as in Globus Compute (json.dumps before rendering): a string is
/// its JSON literal (ASCII only), null the text <c>null</c>, numbers and booleans themselves. So comparisons see the
/// escaped form (<c>x == '"test"'</c>) and printing a string writes it as is; lists and objects print as JSON flow
/// collections of their (escaped) items. The result is one YAML value whatever the user sent.
/// </summary>
internal static class TemplateValues
{
    public const int MaxDepth = 32;
    private static readonly JsonSerializerOptions AsciiJson = new() { Encoder = JavaScriptEncoder.Default };

    public static string JsonString(string s) => JsonSerializer.Serialize(s, AsciiJson);

    /// <summary>The escaped template value of a JSON value; objects missing a key give <see cref="Undefined"/>.</summary>
    public static object Escape(JsonNode? node, string path, int depth = 0)
    {
        if (depth > MaxDepth)
        {
            throw new TemplateRenderException($"'{path}' is nested more than {MaxDepth} levels deep");
        }

        switch (node)
        {
            case null:
                return "null";
            case JsonObject o:
                var obj = new DataObject(path);
                foreach (var (k, v) in o)
                {
                    obj[k] = Escape(v, $"{path}.{k}", depth + 1);
                }

                return obj;
            case JsonArray a:
                return new ScriptArray(a.Select((v, i) => Escape(v, $"{path}[{i}]", depth + 1)));
        }

        var value = node.AsValue();
        return value.GetValueKind() switch
        {
            JsonValueKind.String => JsonString(value.GetValue<string>()),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Number => Number(value.ToJsonString()),
            _ => throw new TemplateRenderException($"'{path}' has an unsupported value"),
        };
    }

    private static object Number(string json) =>
        long.TryParse(json, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) ? l
            : double.Parse(json, NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>How a value is written into the YAML: strings as they are (user strings are already escaped).</summary>
    public static string Print(object? value)
    {
        var sb = new StringBuilder();
        Print(sb, value, depth: 0, nested: false);
        return sb.ToString();
    }

    private static void Print(StringBuilder sb, object? value, int depth, bool nested)
    {
        if (depth > MaxDepth)
        {
            throw new TemplateRenderException($"a printed value is nested more than {MaxDepth} levels deep");
        }

        switch (value)
        {
            case Undefined u:
                throw u.Error(default);
            case null:
                sb.Append(nested ? "null" : "");
                break;
            case string s:
                sb.Append(s);
                break;
            case StringBuilderOutput captured: // {% capture %} / block {% set %}: the template's own text
                sb.Append(captured.Builder);
                break;
            case bool b:
                sb.Append(b ? "true" : "false");
                break;
            case double or float:
                var d = Convert.ToDouble(value, CultureInfo.InvariantCulture);
                sb.Append(double.IsFinite(d) ? d.ToString("R", CultureInfo.InvariantCulture) : "null");
                break;
            case int or long or short or byte or sbyte or uint or ulong or ushort or decimal or System.Numerics.BigInteger:
                sb.Append(Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
            case ScriptObject obj:
                sb.Append('{');
                var first = true;
                foreach (var key in obj.Keys.OrderBy(k => k, StringComparer.Ordinal))
                {
                    sb.Append(first ? "" : ", ").Append(JsonString(key)).Append(": ");
                    first = false;
                    Print(sb, obj[key], depth + 1, nested: true);
                }

                sb.Append('}');
                break;
            case IEnumerable list:
                sb.Append('[');
                var firstItem = true;
                foreach (var item in list)
                {
                    sb.Append(firstItem ? "" : ", ");
                    firstItem = false;
                    Print(sb, item, depth + 1, nested: true);
                }

                sb.Append(']');
                break;
            default:
                // Templates only ever see data built from JSON; anything else is a bug, not something to print.
                throw new TemplateRenderException($"cannot render a value of type {value.GetType().Name}");
        }
    }

    /// <summary>The <c>tojson</c> filter: the value as JSON text, strings JSON-encoded once more (as Jinja's tojson).</summary>
    public static string ToJson(object? value, int depth = 0)
    {
        if (depth > MaxDepth)
        {
            throw new TemplateRenderException($"a value is nested more than {MaxDepth} levels deep");
        }

        return value switch
        {
            Undefined u => throw u.Error(default),
            null => "null",
            string s => JsonString(s),
            StringBuilderOutput captured => JsonString(captured.Builder.ToString()),
            ScriptObject o => "{" + string.Join(", ", o.Keys.OrderBy(k => k, StringComparer.Ordinal)
                .Select(k => JsonString(k) + ": " + ToJson(o[k], depth + 1))) + "}",
            IEnumerable e => "[" + string.Join(", ", e.Cast<object?>().Select(i => ToJson(i, depth + 1))) + "]",
            _ => Print(value),
        };
    }
}
