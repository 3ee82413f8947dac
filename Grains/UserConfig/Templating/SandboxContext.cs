using System.Diagnostics;
using Scriban;
using Scriban.Parsing;
using Scriban.Runtime;
using Scriban.Syntax;

namespace Mep.Grains.UserConfig.Templating;

/// <summary>Limits on one rendering. The defaults are the service's; tests make them small.</summary>
public sealed record TemplateLimits
{
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);
    public int MaxOutputChars { get; init; } = 256 * 1024;
    public int LoopLimit { get; init; } = 10_000;
    public int IncludeDepth { get; init; } = 8;

    public static TemplateLimits Default { get; } = new();
}

/// <summary>
/// The rendering context: data only (no .NET member is reachable), unknown names are <see cref="Undefined"/>,
/// every printed value goes through <see cref="TemplateValues.Print(object?)"/>, and time and output are bounded.
/// </summary>
internal sealed class SandboxContext : LiquidTemplateContext
{
    private readonly TemplateLimits _limits;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private SourceSpan _lastStatement;

    public SandboxContext(TemplateLimits limits)
    {
        _limits = limits;
        StrictVariables = false; // unknown names become Undefined (below) rather than Scriban's own error
        LoopLimit = limits.LoopLimit;
        RecursiveLimit = limits.IncludeDepth * 4;
        LimitToString = limits.MaxOutputChars;
        EnableRelaxedMemberAccess = false;
        MemberFilter = _ => false; // data only: no .NET members are reachable from a template
        AutoIndent = false; // Scriban would indent a block by its tag's indentation; Jinja leaves text as written
        TryGetVariable = (TemplateContext context, SourceSpan _, ScriptVariable variable, out object? value) =>
        {
            value = variable.Name switch
            {
                "nil" or "null" or "empty" or "blank" => null,
                _ => new Undefined(variable.Name, context),
            };
            return true;
        };
    }

    public override object? Evaluate(ScriptNode? scriptNode, bool aliasReturnedFunction)
    {
        if (_clock.Elapsed > _limits.Timeout)
        {
            throw new TemplateRenderException($"rendering took longer than {_limits.Timeout.TotalSeconds:0.###} s");
        }

        // Template text is written without passing through Write(span, value): look at the whole output.
        if (Output is StringBuilderOutput output && output.Builder.Length > _limits.MaxOutputChars)
        {
            throw OutputTooLarge();
        }

        if (scriptNode is ScriptExpressionStatement)
        {
            _lastStatement = scriptNode.Span; // Scriban writes a block's values with the block's span
        }

        return base.Evaluate(scriptNode, aliasReturnedFunction);
    }

    public override TemplateContext Write(SourceSpan span, object? textAsObject)
    {
        if (textAsObject is Undefined undefined)
        {
            throw undefined.Error(_lastStatement.FileName is null ? span : _lastStatement);
        }

        var text = TemplateValues.Print(textAsObject);

        if (Output is StringBuilderOutput output && output.Builder.Length + text.Length > _limits.MaxOutputChars)
        {
            throw OutputTooLarge();
        }

        return base.Write(span, text);
    }

    public TemplateRenderException OutputTooLarge() => new($"rendered config exceeds {_limits.MaxOutputChars} characters");

    public override string? ObjectToString(object? value, bool nested = false) =>
        value is Undefined u ? throw u.Error(default) : base.ObjectToString(value, nested);

    public override bool ToBool(SourceSpan span, object? value) =>
        value is not Undefined && base.ToBool(span, value);
}
