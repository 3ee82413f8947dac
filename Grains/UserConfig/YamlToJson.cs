using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Mep.Grains.UserConfig;

/// <summary>
/// The rendered template is YAML; the UEP program reads JSON. Plain (unquoted) scalars are resolved by the YAML 1.2 core
/// schema, as Globus Compute's PyYAML users expect of a modern parser but not as YAML 1.1 does: <c>yes</c>, <c>no</c>,
/// <c>on</c>, <c>off</c>, <c>y</c> stay strings, <c>017</c> is 17, <c>0o17</c> 15, <c>0x1F</c> 31, <c>1_000</c> a string.
/// YamlDotNet's representation model parses the syntax and leaves resolution to us (its deserializer would apply its
/// own, 1.1-leaning, rules). Quoted and block scalars are always strings; <c>!!str</c> forces a string; other tags are
/// refused rather than guessed at.
/// </summary>
public static partial class YamlToJson
{
    /// <summary>Nodes produced at most: aliases repeat their anchor's nodes, and nested aliases would otherwise grow exponentially.</summary>
    public const int MaxNodes = 100_000;

    private const string CoreTagPrefix = "tag:yaml.org,2002:";

    public static JsonObject Convert(string yaml)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new TemplateRenderException($"rendered config is not valid YAML: {e.Message}");
        }

        if (stream.Documents.Count == 0)
        {
            return [];
        }

        if (stream.Documents.Count > 1)
        {
            throw new TemplateRenderException("rendered config must be one YAML document, not several");
        }

        var budget = MaxNodes;
        return ToNode(stream.Documents[0].RootNode, "", ref budget) as JsonObject
            ?? throw new TemplateRenderException("rendered config must be a YAML mapping");
    }

    private static JsonNode? ToNode(YamlNode node, string path, ref int budget)
    {
        if (--budget < 0)
        {
            throw new TemplateRenderException($"rendered config has more than {MaxNodes} values (aliases included)");
        }

        switch (node)
        {
            case YamlMappingNode map:
                CheckTag(map, "map", path);
                var o = new JsonObject();
                foreach (var (k, v) in map.Children)
                {
                    if (k is not YamlScalarNode { Value: { } key })
                    {
                        throw new TemplateRenderException($"{Where(path)}: keys must be plain strings");
                    }

                    var childPath = path.Length == 0 ? key : $"{path}.{key}";
                    o[key] = ToNode(v, childPath, ref budget);
                }

                return o;
            case YamlSequenceNode seq:
                CheckTag(seq, "seq", path);
                var a = new JsonArray();
                for (var i = 0; i < seq.Children.Count; i++)
                {
                    a.Add(ToNode(seq.Children[i], $"{path}[{i}]", ref budget));
                }

                return a;
            case YamlScalarNode scalar:
                return Scalar(scalar, path);
            default:
                throw new TemplateRenderException($"{Where(path)}: unsupported YAML node");
        }
    }

    private static void CheckTag(YamlNode node, string core, string path)
    {
        if (!node.Tag.IsEmpty && node.Tag.Value != CoreTagPrefix + core)
        {
            throw new TemplateRenderException($"{Where(path)}: YAML tag {node.Tag.Value} is not supported");
        }
    }

    private static string Where(string path) => path.Length == 0 ? "rendered config" : path;

    private static JsonNode? Scalar(YamlScalarNode s, string path)
    {
        var v = s.Value ?? "";
        if (!s.Tag.IsEmpty && !s.Tag.IsNonSpecific)
        {
            return s.Tag.Value == CoreTagPrefix + "str"
                ? JsonValue.Create(v)
                : throw new TemplateRenderException($"{Where(path)}: YAML tag {s.Tag.Value} is not supported");
        }

        if (s.Style != YamlDotNet.Core.ScalarStyle.Plain && s.Style != YamlDotNet.Core.ScalarStyle.Any || s.Tag.IsNonSpecific)
        {
            return JsonValue.Create(v);
        }

        if (v is "" or "~" or "null" or "Null" or "NULL")
        {
            return null;
        }

        if (v is "true" or "True" or "TRUE")
        {
            return JsonValue.Create(true);
        }

        if (v is "false" or "False" or "FALSE")
        {
            return JsonValue.Create(false);
        }

        if (Integer().IsMatch(v))
        {
            return long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)
                ? JsonValue.Create(l)
                : throw new TemplateRenderException($"{Where(path)}: integer {v} is out of range");
        }

        if (v.StartsWith("0o", StringComparison.Ordinal) && Octal().IsMatch(v))
        {
            return JsonValue.Create(System.Convert.ToInt64(v[2..], 8));
        }

        if (v.StartsWith("0x", StringComparison.Ordinal) && Hex().IsMatch(v))
        {
            return JsonValue.Create(long.Parse(v[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture));
        }

        if (Float().IsMatch(v))
        {
            var d = double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture);
            return double.IsFinite(d) ? JsonValue.Create(d) : throw new TemplateRenderException($"{Where(path)}: number {v} is out of range");
        }

        if (Special().IsMatch(v))
        {
            throw new TemplateRenderException($"{Where(path)}: {v} (infinity or not-a-number) cannot be represented; quote it for a string");
        }

        return JsonValue.Create(v);
    }

    [GeneratedRegex(@"^[-+]?[0-9]+$")]
    private static partial Regex Integer();

    [GeneratedRegex(@"^0o[0-7]{1,20}$")]
    private static partial Regex Octal();

    [GeneratedRegex(@"^0x[0-9a-fA-F]{1,15}$")]
    private static partial Regex Hex();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex Float();

    [GeneratedRegex(@"^([-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$")]
    private static partial Regex Special();
}
