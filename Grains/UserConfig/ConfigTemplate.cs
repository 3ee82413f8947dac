using System.Text.Json.Nodes;
using Scriban;
using Scriban.Parsing;
using Scriban.Runtime;

namespace Mep.Grains.UserConfig;

/// <summary>
/// The admin's <c>user_config_template.yaml.j2</c>: Liquid rendered with Scriban, every printed user value escaped
/// (see <see cref="ValueEscaper"/>). First cut of the dialect; the Jinja compatibility layer has its own issue.
/// </summary>
public sealed class ConfigTemplate
{
    private const int MaxOutputChars = 256 * 1024;
    private readonly Template _template;
    private readonly string _path;

    private ConfigTemplate(Template template, string path)
    {
        _template = template;
        _path = path;
    }

    public static ConfigTemplate Load(string path) => Parse(File.ReadAllText(path), path);

    public static ConfigTemplate Parse(string text, string path = "<template>")
    {
        var template = Template.ParseLiquid(text, path);
        if (template.HasErrors)
        {
            throw new InvalidOperationException($"{path}: {string.Join("; ", template.Messages)}");
        }

        return new ConfigTemplate(template, path);
    }

    /// <summary>Renders with the user's config as the template's variables. Throws <see cref="TemplateRenderException"/>.</summary>
    public string Render(JsonObject userConfig, JsonObject? gc = null)
    {
        var globals = new ScriptObject();
        foreach (var (key, value) in userConfig)
        {
            globals[key] = ToScript(value);
        }

        if (gc is not null)
        {
            globals["_GC"] = ToScript(gc);
        }

        var context = new EscapingContext
        {
            StrictVariables = false,
            LoopLimit = 10_000,
            RecursiveLimit = 50,
            LimitToString = MaxOutputChars,
            EnableRelaxedMemberAccess = false,
            MemberFilter = _ => false, // data only: no .NET members are reachable from a template
        };
        context.PushGlobal(globals);
        try
        {
            var output = _template.Render(context);
            if (output.Length > MaxOutputChars)
            {
                throw new TemplateRenderException($"rendered config exceeds {MaxOutputChars} characters");
            }

            return output.EndsWith('\n') ? output[..^1] : output;
        }
        catch (Scriban.Syntax.ScriptRuntimeException e)
        {
            throw new TemplateRenderException($"{_path}: {e.OriginalMessage}");
        }
    }

    private static object? ToScript(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => ToScriptObject(o),
        JsonArray a => new ScriptArray(a.Select(ToScript)),
        JsonValue v when v.TryGetValue<bool>(out var b) => b,
        JsonValue v when v.TryGetValue<long>(out var l) => l,
        JsonValue v when v.TryGetValue<double>(out var d) => d,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => node.ToJsonString(),
    };

    private static ScriptObject ToScriptObject(JsonObject o)
    {
        var so = new ScriptObject();
        foreach (var (k, v) in o)
        {
            so[k] = ToScript(v);
        }

        return so;
    }

    private sealed class EscapingContext : LiquidTemplateContext
    {
        public override TemplateContext Write(SourceSpan span, object? textAsObject) =>
            base.Write(span, ValueEscaper.Escape(textAsObject));
    }
}

public sealed class TemplateRenderException(string message) : Exception(message);
