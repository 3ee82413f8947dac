using System.Collections;
using Scriban;
using Scriban.Parsing;
using Scriban.Runtime;
using Scriban.Syntax;

namespace Mep.Grains.UserConfig.Templating;

/// <summary>
/// What a name the template does not know evaluates to (Jinja's StrictUndefined): printing, comparing or iterating it
/// is an error naming it; <c>default</c> and <c>is defined</c> look at it safely; an <c>if</c> on it is false.
/// </summary>
internal sealed class Undefined(string name, TemplateContext? context) : IEnumerable, IScriptCustomBinaryOperation
{
    public string Name { get; } = name;

    /// <summary>The error, placed where the template is being evaluated when the caller has no span of its own.</summary>
    public ScriptRuntimeException Error(SourceSpan span) =>
        new(span.FileName is null && context?.CurrentNode is { } node ? node.Span : span, $"'{Name}' is undefined");

    public IEnumerator GetEnumerator() => throw Error(default);

    public bool TryEvaluate(TemplateContext context, SourceSpan span, ScriptBinaryOperator op, SourceSpan leftSpan, object? leftValue,
        SourceSpan rightSpan, object? rightValue, out object? result) => throw Error(span);

    public override string ToString() => throw Error(default);
}

/// <summary>User data as a template object: a missing key is <see cref="Undefined"/> (named by its path), not null.</summary>
internal sealed class DataObject(string path) : ScriptObject
{
    public override bool TryGetValue(TemplateContext? context, SourceSpan span, string member, out object? value)
    {
        if (base.TryGetValue(context, span, member, out value))
        {
            return true;
        }

        value = new Undefined($"{path}.{member}", context);
        return true;
    }
}
