using System.Text.Json.Nodes;
using Mep.Grains.UserConfig.Templating;
using Scriban;
using Scriban.Parsing;
using Scriban.Runtime;
using Scriban.Syntax;

namespace Mep.Grains.UserConfig;

/// <summary>
/// The admin's <c>user_config_template.yaml.j2</c>: Scriban's Liquid plus the Jinja forms Globus Compute templates use
/// (rewritten to Liquid by <see cref="JinjaRewriter"/>), strict about undefined names, sandboxed, and with every user
/// value escaped before rendering (see <see cref="TemplateValues"/>). The dialect: docs/template-dialect.md.
/// </summary>
public sealed class ConfigTemplate
{
    /// <summary>The variable holding the service's own data (mapped identity, user runtime, parent config).</summary>
    public const string ReservedVariable = "_GC";

    /// <summary>User option names that are refused (Globus Compute's reserved names, old and new).</summary>
    public static readonly IReadOnlySet<string> ReservedOptions =
        new HashSet<string>(StringComparer.Ordinal) { ReservedVariable, "parent_config", "user_runtime", "mapped_identity" };

    private readonly Template _template;
    private readonly string _path;
    private readonly string? _directory;
    private readonly TemplateLimits _limits;

    private ConfigTemplate(Template template, string path, string? directory, TemplateLimits limits)
    {
        _template = template;
        _path = path;
        _directory = directory;
        _limits = limits;
    }

    public static ConfigTemplate Load(string path, TemplateLimits? limits = null) =>
        Parse(File.ReadAllText(path), path, limits, Path.GetDirectoryName(Path.GetFullPath(path)));

    /// <summary>Parses a template; <paramref name="directory"/> is where <c>include</c> may read (none: no include).</summary>
    public static ConfigTemplate Parse(string text, string path = "<template>", TemplateLimits? limits = null, string? directory = null)
    {
        var liquid = JinjaRewriter.Rewrite(text, path); // throws InvalidOperationException naming the file and line
        var template = Template.ParseLiquid(liquid, path, ParserOptions());
        if (template.HasErrors)
        {
            throw new InvalidOperationException($"{path}: {string.Join("; ", template.Messages)}");
        }

        return new ConfigTemplate(template, path, directory, limits ?? TemplateLimits.Default);
    }

    /// <summary>
    /// Renders with every user option as a top-level variable and <paramref name="gc"/> as <c>_GC</c>, both escaped.
    /// Throws <see cref="TemplateRenderException"/> for anything the user's values or the template's logic cause.
    /// </summary>
    public string Render(JsonObject userOptions, JsonObject? gc = null)
    {
        var reserved = userOptions.Select(kv => kv.Key).FirstOrDefault(ReservedOptions.Contains);
        if (reserved is not null)
        {
            throw new TemplateRenderException($"'{reserved}' is a reserved name and cannot be passed as a user option");
        }

        var values = new ScriptObject();
        foreach (var (key, value) in userOptions)
        {
            values[key] = TemplateValues.Escape(value, key);
        }

        values[ReservedVariable] = TemplateValues.Escape(gc ?? [], ReservedVariable);

        var context = new SandboxContext(_limits)
        {
            TemplateLoader = new DirectoryTemplateLoader(_directory, _limits.MaxOutputChars),
            TemplateLoaderParserOptions = ParserOptions(),
            TemplateLoaderLexerOptions = new LexerOptions { Lang = ScriptLang.Liquid, Mode = ScriptMode.Default },
        };
        context.PushGlobal(values);
        context.PushGlobal(TemplateFunctions.Create()); // above the values: a user option cannot hide a function
        try
        {
            var output = _template.Render(context);
            if (output.Length > _limits.MaxOutputChars)
            {
                throw context.OutputTooLarge();
            }

            return output.EndsWith('\n') ? output[..^1] : output;
        }
        catch (ScriptRuntimeException e)
        {
            throw new TemplateRenderException(Describe(e));
        }
        catch (TemplateRenderException e)
        {
            throw new TemplateRenderException($"{_path}: {e.Message}");
        }
    }

    private string Describe(ScriptRuntimeException e)
    {
        if (e.InnerException is TemplateRenderException inner)
        {
            return $"{_path}: {inner.Message}";
        }

        var where = e.Span.FileName is not null ? $"({e.Span.Start.Line + 1},{e.Span.Start.Column + 1})" : "";
        return $"{_path}{where}: {e.OriginalMessage}";
    }

    private static ParserOptions ParserOptions() => new() { LiquidFunctionsToScriban = true, ExpressionDepthLimit = 100 };
}

public sealed class TemplateRenderException(string message) : Exception(message);
