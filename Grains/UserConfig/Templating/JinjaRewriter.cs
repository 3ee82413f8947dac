using System.Text;

namespace Mep.Grains.UserConfig.Templating;

/// <summary>
/// Rewrites the Jinja forms of a Globus Compute template into Scriban's Liquid before parsing. Token-aware: text
/// outside <c>{{ }}</c> / <c>{% %}</c> is copied unchanged, string literals inside tags are never touched, and no
/// newline is added or removed, so Scriban's parse errors keep pointing at the admin's own lines.
/// </summary>
internal static class JinjaRewriter
{
    public static string Rewrite(string text, string path)
    {
        var output = new StringBuilder(text.Length + 64);
        var pos = 0;
        while (pos < text.Length)
        {
            var open = NextTagStart(text, pos);
            if (open < 0)
            {
                output.Append(text, pos, text.Length - pos);
                break;
            }

            output.Append(text, pos, open - pos);
            var kind = text[open + 1];
            if (kind == '#')
            {
                pos = Comment(text, open, output, path);
                continue;
            }

            var close = FindTagEnd(text, open, kind == '{' ? "}}" : "%}", path);
            var tag = TagParts.Split(text, open, close);
            if (kind == '%' && tag.FirstWord() == "raw")
            {
                pos = Raw(text, open, close, output, path);
                continue;
            }

            output.Append(kind == '%' ? StatementRewriter.Rewrite(tag) : tag.Render(ExpressionRewriter.Rewrite(tag.Tokens, 0)));
            pos = close + 2;
        }

        return output.ToString();
    }

    private static int NextTagStart(string text, int from)
    {
        for (var i = text.IndexOf('{', from); i >= 0 && i + 1 < text.Length; i = text.IndexOf('{', i + 1))
        {
            if (text[i + 1] is '{' or '%' or '#')
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Index of the closing delimiter, skipping string literals (a <c>%}</c> inside quotes is not an end).</summary>
    private static int FindTagEnd(string text, int open, string end, string path)
    {
        var i = open + 2;
        while (i < text.Length - 1)
        {
            var c = text[i];
            if (c is '"' or '\'')
            {
                var endQuote = Tokenizer.EndOfString(text, i);
                if (endQuote < 0)
                {
                    break;
                }

                i = endQuote + 1;
                continue;
            }

            if (c == end[0] && text[i + 1] == end[1])
            {
                return i;
            }

            i++;
        }

        throw Error(text, open, path, $"tag is not closed with '{end}'");
    }

    /// <summary>
    /// <c>{# … #}</c> produces nothing: it becomes an empty print, or an empty Liquid comment keeping its newlines (so
    /// line numbers stay), with its <c>-</c> whitespace control.
    /// </summary>
    private static int Comment(string text, int open, StringBuilder output, string path)
    {
        var close = text.IndexOf("#}", open + 2, StringComparison.Ordinal);
        if (close < 0)
        {
            throw Error(text, open, path, "comment is not closed with '#}'");
        }

        var trimLeft = text[open + 2] == '-' ? "-" : "";
        var trimRight = close > open + 2 && text[close - 1] == '-' ? "-" : "";
        var newlines = text.AsSpan(open, close - open).Count('\n');
        if (newlines == 0)
        {
            output.Append("{{").Append(trimLeft).Append(" \"\" ").Append(trimRight).Append("}}");
        }
        else
        {
            // Liquid's comment block keeps the line count; its end tag does not honour '-', an empty print does.
            output.Append("{%").Append(trimLeft).Append(" comment %}").Append('\n', newlines).Append("{% endcomment %}");
            if (trimRight.Length > 0)
            {
                output.Append("{{- \"\" -}}");
            }
        }

        return close + 2;
    }

    /// <summary><c>{% raw %}</c> … <c>{% endraw %}</c> is copied verbatim, tags included: Scriban handles it.</summary>
    private static int Raw(string text, int open, int close, StringBuilder output, string path)
    {
        var search = close + 2;
        while (true)
        {
            var next = text.IndexOf("{%", search, StringComparison.Ordinal);
            if (next < 0)
            {
                throw Error(text, open, path, "{% raw %} has no {% endraw %}");
            }

            var end = FindTagEnd(text, next, "%}", path);
            if (TagParts.Split(text, next, end).FirstWord() == "endraw")
            {
                output.Append(text, open, end + 2 - open);
                return end + 2;
            }

            search = next + 2;
        }
    }

    internal static InvalidOperationException Error(string text, int at, string path, string message)
    {
        var line = text.AsSpan(0, at).Count('\n') + 1;
        var column = at - text.LastIndexOf('\n', Math.Max(at - 1, 0)) ;
        return new InvalidOperationException($"{path}({line},{column}): {message}");
    }
}
