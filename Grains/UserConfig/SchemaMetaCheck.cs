using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Mep.Grains.UserConfig;

/// <summary>
/// Checks that a schema document is a JSON Schema before NJsonSchema reads it. NJsonSchema is lax: it reads
/// <c>"type": 5</c> as a flags value, ignores a <c>"required": "x"</c>, and would fetch a <c>$ref</c> to a URL or a file
/// from the silo. Each keyword it would misread is checked here for the type the specification gives it (drafts 4
/// to 2020-12); references must point inside the document. Unknown keywords stay allowed, as the specification says.
/// </summary>
internal static class SchemaMetaCheck
{
    private static readonly string[] Types = ["string", "number", "integer", "boolean", "object", "array", "null"];

    private static readonly string[] SchemaKeywords =
        ["additionalProperties", "additionalItems", "not", "contains", "propertyNames", "if", "then", "else", "unevaluatedProperties", "unevaluatedItems"];

    private static readonly string[] SchemaMapKeywords = ["properties", "patternProperties", "definitions", "$defs", "dependentSchemas"];

    private static readonly string[] SchemaListKeywords = ["allOf", "anyOf", "oneOf", "prefixItems"];

    private static readonly string[] NonNegativeIntegerKeywords =
        ["minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties", "minContains", "maxContains"];

    private static readonly string[] NumberKeywords = ["minimum", "maximum", "multipleOf"];

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the schema location (<c>#/properties/x/type</c>) and the fault.</summary>
    public static void Check(JsonNode? root)
    {
        Schema(root, "#", root);
    }

    private static void Schema(JsonNode? node, string at, JsonNode? root)
    {
        if (node is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False)
        {
            return;
        }

        if (node is not JsonObject o)
        {
            throw Fault(at, "a schema must be an object or a boolean");
        }

        foreach (var (key, value) in o)
        {
            var here = $"{at}/{Escape(key)}";
            switch (key)
            {
                case "type":
                    TypeKeyword(value, here);
                    break;
                case "$ref":
                    Reference(value, here, root);
                    break;
                case "required":
                    if (value is not JsonArray req || req.Any(r => r is not JsonValue rv || rv.GetValueKind() != JsonValueKind.String)
                        || req.Select(r => r!.GetValue<string>()).Distinct().Count() != req.Count)
                    {
                        throw Fault(here, "must be a list of distinct property names");
                    }

                    break;
                case "enum":
                    if (value is not JsonArray { Count: > 0 })
                    {
                        throw Fault(here, "must be a non-empty list");
                    }

                    break;
                case "pattern":
                    Pattern(value, here);
                    break;
                case "items":
                    if (value is JsonArray tuple)
                    {
                        for (var i = 0; i < tuple.Count; i++)
                        {
                            Schema(tuple[i], $"{here}/{i}", root);
                        }
                    }
                    else
                    {
                        Schema(value, here, root);
                    }

                    break;
                case "exclusiveMinimum" or "exclusiveMaximum":
                    // A boolean in draft 4, a number since draft 6.
                    if (value is not JsonValue ev || ev.GetValueKind() is not (JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False))
                    {
                        throw Fault(here, "must be a number");
                    }

                    break;
                case "format" or "title" or "description" or "$schema" or "$id" or "id":
                    if (value is not JsonValue sv || sv.GetValueKind() != JsonValueKind.String)
                    {
                        throw Fault(here, "must be a string");
                    }

                    break;
                case var k when SchemaKeywords.Contains(k):
                    Schema(value, here, root);
                    break;
                case var k when SchemaMapKeywords.Contains(k):
                    if (value is not JsonObject map)
                    {
                        throw Fault(here, "must be an object of schemas");
                    }

                    foreach (var (name, child) in map)
                    {
                        if (k == "patternProperties")
                        {
                            Pattern(JsonValue.Create(name), $"{here}/{Escape(name)}");
                        }

                        Schema(child, $"{here}/{Escape(name)}", root);
                    }

                    break;
                case var k when SchemaListKeywords.Contains(k):
                    if (value is not JsonArray { Count: > 0 } list)
                    {
                        throw Fault(here, "must be a non-empty list of schemas");
                    }

                    for (var i = 0; i < list.Count; i++)
                    {
                        Schema(list[i], $"{here}/{i}", root);
                    }

                    break;
                case var k when NonNegativeIntegerKeywords.Contains(k):
                    if (value is not JsonValue iv || iv.GetValueKind() != JsonValueKind.Number
                        || !long.TryParse(iv.ToJsonString(), out var n) || n < 0)
                    {
                        throw Fault(here, "must be a non-negative integer");
                    }

                    break;
                case var k when NumberKeywords.Contains(k):
                    if (value is not JsonValue nv || nv.GetValueKind() != JsonValueKind.Number
                        || (k == "multipleOf" && nv.GetValue<double>() <= 0))
                    {
                        throw Fault(here, k == "multipleOf" ? "must be a positive number" : "must be a number");
                    }

                    break;
            }
        }
    }

    private static void TypeKeyword(JsonNode? value, string at)
    {
        static bool Known(JsonNode? n) => n is JsonValue v && v.GetValueKind() == JsonValueKind.String && Types.Contains(v.GetValue<string>());

        var ok = value switch
        {
            JsonArray list => list.Count > 0 && list.All(Known) && list.Select(t => t!.GetValue<string>()).Distinct().Count() == list.Count,
            _ => Known(value),
        };
        if (!ok)
        {
            throw Fault(at, $"must be one of {string.Join(", ", Types)} (or a list of them), got {value?.ToJsonString() ?? "null"}");
        }
    }

    private static void Reference(JsonNode? value, string at, JsonNode? root)
    {
        if (value is not JsonValue v || v.GetValueKind() != JsonValueKind.String)
        {
            throw Fault(at, "must be a string");
        }

        var reference = v.GetValue<string>();
        if (!reference.StartsWith('#'))
        {
            // Never fetched: a schema must not make the silo read other files or reach the network.
            throw Fault(at, $"{reference}: only references within the schema (#/...) are supported");
        }

        if (Resolve(root, reference) is null)
        {
            throw Fault(at, $"{reference} does not point to anything in the schema");
        }
    }

    private static JsonNode? Resolve(JsonNode? root, string reference)
    {
        var pointer = Uri.UnescapeDataString(reference[1..]);
        if (pointer.Length == 0)
        {
            return root;
        }

        if (!pointer.StartsWith('/'))
        {
            return null; // anchors ("#name") are not supported by NJsonSchema either
        }

        var node = root;
        foreach (var raw in pointer[1..].Split('/'))
        {
            var token = raw.Replace("~1", "/").Replace("~0", "~");
            node = node switch
            {
                JsonObject o => o.TryGetPropertyValue(token, out var child) ? child ?? JsonValue.Create(0) : null,
                JsonArray a => int.TryParse(token, out var i) && i >= 0 && i < a.Count ? a[i] : null,
                _ => null,
            };
            if (node is null)
            {
                return null;
            }
        }

        return node;
    }

    private static void Pattern(JsonNode? value, string at)
    {
        if (value is not JsonValue v || v.GetValueKind() != JsonValueKind.String)
        {
            throw Fault(at, "must be a regular expression (string)");
        }

        try
        {
            _ = new Regex(v.GetValue<string>(), RegexOptions.None, TimeSpan.FromSeconds(1));
        }
        catch (ArgumentException e)
        {
            throw Fault(at, $"not a valid regular expression: {e.Message}");
        }
    }

    private static string Escape(string token) => token.Replace("~", "~0").Replace("/", "~1");

    private static InvalidOperationException Fault(string at, string reason) => new($"{at}: {reason}");
}
