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
internal sealed class Undefined(string name, TemplateContext? context) : IEnumerable, IScriptCustomBinaryOperation, IScriptObject
{
    public string Name { get; } = name;

    /// <summary>The error, placed where the template is being evaluated when the caller has no span of its own.</summary>
    public ScriptRuntimeException Error(SourceSpan span) =>
        new(span.FileName is null && context?.CurrentNode is { } node ? node.Span : span, $"'{Name}' is undefined");

    public IEnumerator GetEnumerator() => throw Error(default);

    public bool TryEvaluate(TemplateContext context, SourceSpan span, ScriptBinaryOperator op, SourceSpan leftSpan, object? leftValue,
        SourceSpan rightSpan, object? rightValue, out object? result) => throw Error(span);

    public override string ToString() => throw Error(default);

    // A member of an undefined name is the same undefined name: `a.b is defined` is false, printing it names `a`.
    public bool TryGetValue(TemplateContext? context, SourceSpan span, string member, out object? value)
    {
        value = this;
        return true;
    }

    public int Count => throw Error(default);

    public bool IsReadOnly
    {
        get => true;
        set { }
    }

    public IEnumerable<string> GetMembers() => throw Error(default);

    public bool Contains(string member) => throw Error(default);

    public bool CanWrite(string member) => false;

    public bool TrySetValue(TemplateContext? context, SourceSpan span, string member, object? value, bool readOnly) => throw Error(span);

    public bool Remove(string member) => false;

    public void SetReadOnly(string member, bool readOnly)
    {
    }

    public IScriptObject Clone(bool deep) => this;
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
