using System.Text;

namespace Mep.Grains.UserConfig.Templating;

/// <summary>Rewrites one <c>{% %}</c> tag: Jinja statement names to Liquid ones, then its expression forms.</summary>
internal static class StatementRewriter
{
    private const string TupleVariable = "__mep_tuple";

    public static string Rewrite(TagParts tag)
    {
        var tokens = tag.Tokens;
        switch (tag.FirstWord())
        {
            case "elif":
                tokens = [tokens[0] with { Text = "elsif" }, .. tokens.Skip(1)];
                break;
            case "endset":
                tokens = [tokens[0] with { Text = "endcapture" }, .. tokens.Skip(1)];
                break;
            case "set":
                return Set(tag);
        }

        return tag.Render(ExpressionRewriter.Rewrite(tokens, 0));
    }

    /// <summary>
    /// <c>set x = e</c> → <c>assign x = e</c>; <c>set a, b = e</c> → a checked unpack into a temporary, then one
    /// assign per name; block <c>set x</c> … <c>endset</c> → <c>capture x</c> … <c>endcapture</c>.
    /// </summary>
    private static string Set(TagParts tag)
    {
        var tokens = tag.Tokens;
        var equals = tokens.FindIndex(t => t.Is("="));
        if (equals < 0)
        {
            return tag.Render([tokens[0] with { Text = "capture" }, .. tokens.Skip(1)]);
        }

        var names = tokens.Take(equals).Skip(1).Where(t => t.Kind == TokenKind.Word).Select(t => t.Text).ToList();
        var isTuple = tokens.Take(equals).Any(t => t.Is(","));
        var rewritten = ExpressionRewriter.Rewrite(tokens, 0);
        rewritten[0] = rewritten[0] with { Text = "assign" };
        if (!isTuple)
        {
            return tag.Render(rewritten);
        }

        var valueStart = rewritten.FindIndex(t => t.Is("=")) + 1;
        var value = Tokenizer.Render(rewritten.Skip(valueStart));
        var sb = new StringBuilder();
        var closeTrim = tag.Close.StartsWith('-') ? "-" : "";
        sb.Append(tag.Open).Append(" assign ").Append(TupleVariable).Append(" = (").Append(value.TrimStart()).Append(tag.Trailing)
            .Append(") | ").Append(TemplateFunctions.Unpack).Append(": ").Append(names.Count).Append(" %}");
        for (var k = 0; k < names.Count; k++)
        {
            var last = k == names.Count - 1;
            sb.Append("{% assign ").Append(names[k]).Append(" = ").Append(TupleVariable).Append('[').Append(k).Append("] ")
                .Append(last ? closeTrim : "").Append("%}");
        }

        return sb.ToString();
    }
}
