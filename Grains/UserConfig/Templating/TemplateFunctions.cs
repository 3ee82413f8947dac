using System.Collections;
using System.Text.Json;
using System.Text.RegularExpressions;
using Scriban.Runtime;

namespace Mep.Grains.UserConfig.Templating;

/// <summary>The functions behind the Jinja forms (the rewriter targets the mep_* names) and the extra filters.</summary>
internal static partial class TemplateFunctions
{
    public const string Default = "mep_default";
    public const string Defined = "mep_defined";
    public const string Undefined = "mep_undefined";
    public const string In = "mep_in";
    public const string NotIn = "mep_not_in";
    public const string Not = "mep_not";
    public const string Unpack = "mep_unpack";

    public static ScriptObject Create()
    {
        var functions = new ScriptObject();
        functions.Import(Default, new Func<object?, object?, object?>(DefaultValue));
        functions.Import(Defined, new Func<object?, bool>(v => v is not Templating.Undefined));
        functions.Import(Undefined, new Func<object?, bool>(v => v is Templating.Undefined));
        functions.Import(In, new Func<object?, object?, bool>(Contains));
        functions.Import(NotIn, new Func<object?, object?, bool>((a, b) => !Contains(a, b)));
        functions.Import(Not, new Func<object?, bool>(v => !Truthy(v)));
        functions.Import(Unpack, new Func<object?, int, ScriptArray>(UnpackValues));
        functions.Import("tojson", new Func<object?, string>(v => TemplateValues.ToJson(v)));
        functions.Import("shell_escape", new Func<object?, object?>(ShellEscape));
        return functions;
    }

    /// <summary>Jinja's default: only an undefined value is replaced (no argument: the empty string).</summary>
    private static object? DefaultValue(object? value, object? fallback = null) =>
        value is Templating.Undefined ? fallback ?? "" : value;

    /// <summary>
    /// <c>a in b</c>: a substring of a string, a key of an object, an item of a list. Strings are compared in their
    /// escaped form, so <c>'3.12' in _GC.user_runtime.python_version</c> finds the version inside the quotes.
    /// </summary>
    private static bool Contains(object? item, object? container)
    {
        if (item is Templating.Undefined u)
        {
            throw u.Error(default);
        }

        return container switch
        {
            Templating.Undefined cu => throw cu.Error(default),
            string s => item is string sub ? s.Contains(sub, StringComparison.Ordinal)
                : throw new TemplateRenderException("'in' on a string needs a string on its left"),
            ScriptObject o => item is string key && o.ContainsKey(key),
            IEnumerable list => list.Cast<object?>().Any(x => ValuesEqual(x, item)),
            _ => throw new TemplateRenderException("'in' needs a string, list or object on its right"),
        };
    }

    private static bool ValuesEqual(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b))
        {
            return Convert.ToDecimal(a, System.Globalization.CultureInfo.InvariantCulture)
                   == Convert.ToDecimal(b, System.Globalization.CultureInfo.InvariantCulture);
        }

        return Equals(a, b);
    }

    private static bool IsNumber(object? v) => v is int or long or double or float or decimal or short or byte;

    /// <summary>Liquid truthiness (only false and nil are false); an undefined name is false too.</summary>
    internal static bool Truthy(object? v) => v is not (null or false or Templating.Undefined);

    private static ScriptArray UnpackValues(object? value, int count)
    {
        if (value is Templating.Undefined u)
        {
            throw u.Error(default);
        }

        var items = value is IEnumerable e and not string and not ScriptObject ? e.Cast<object?>().ToList()
            : throw new TemplateRenderException("set a, b, … = value: the value is not a list");
        if (items.Count != count)
        {
            throw new TemplateRenderException($"set: {count} names but the list has {items.Count} items");
        }

        return new ScriptArray(items);
    }

    /// <summary>
    /// One safe shell word (Python's shlex.quote), as Globus Compute's shell_escape: a user string is escaped JSON,
    /// so it is decoded, quoted and encoded again; the result is still one YAML string. Non-strings are unchanged.
    /// </summary>
    private static object? ShellEscape(object? value)
    {
        if (value is Templating.Undefined u)
        {
            throw u.Error(default);
        }

        if (value is not string s)
        {
            return value;
        }

        var raw = s;
        try
        {
            if (JsonSerializer.Deserialize<JsonElement>(s) is { ValueKind: JsonValueKind.String } decoded)
            {
                raw = decoded.GetString()!;
            }
        }
        catch (JsonException)
        {
            // A string the template made itself (not an escaped user value): quote it as it is.
        }

        return TemplateValues.JsonString(ShellWord(raw));
    }

    internal static string ShellWord(string s)
    {
        if (s.Length == 0)
        {
            return "''";
        }

        return SafeWord().IsMatch(s) ? s : "'" + s.Replace("'", "'\"'\"'", StringComparison.Ordinal) + "'";
    }

    [GeneratedRegex(@"^[A-Za-z0-9_@%+=:,./-]+\z")]
    private static partial Regex SafeWord();
}
