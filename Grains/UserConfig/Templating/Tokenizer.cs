using System.Text;

namespace Mep.Grains.UserConfig.Templating;

internal enum TokenKind
{
    Word,
    String,
    Number,
    Punct,
}

/// <summary>One token of a tag's expression; <see cref="Lead"/> is the whitespace before it, kept so lines stay.</summary>
internal sealed record Token(string Lead, string Text, TokenKind Kind)
{
    public bool Is(string text) => Kind is TokenKind.Word or TokenKind.Punct && Text == text;

    public static Token Word(string text, string lead = " ") => new(lead, text, TokenKind.Word);

    public static Token Punct(string text, string lead = "") => new(lead, text, TokenKind.Punct);
}

internal static class Tokenizer
{
    private static readonly string[] TwoCharOps = ["==", "!=", "<=", ">=", ".."];

    public static List<Token> Tokenize(string inner, out string trailing)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (true)
        {
            var leadStart = i;
            while (i < inner.Length && char.IsWhiteSpace(inner[i]))
            {
                i++;
            }

            if (i >= inner.Length)
            {
                trailing = inner[leadStart..i];
                return tokens;
            }

            var lead = inner[leadStart..i];
            var c = inner[i];
            int end;
            TokenKind kind;
            if (c is '"' or '\'')
            {
                end = EndOfString(inner, i);
                end = end < 0 ? inner.Length : end + 1; // an unclosed literal is Scriban's error to report
                kind = TokenKind.String;
            }
            else if (char.IsAsciiDigit(c))
            {
                end = i + 1;
                while (end < inner.Length && (char.IsAsciiDigit(inner[end])
                           || (inner[end] == '.' && end + 1 < inner.Length && char.IsAsciiDigit(inner[end + 1]))))
                {
                    end++;
                }

                kind = TokenKind.Number;
            }
            else if (char.IsAsciiLetter(c) || c == '_')
            {
                end = i + 1;
                while (end < inner.Length && (char.IsAsciiLetterOrDigit(inner[end]) || inner[end] == '_'))
                {
                    end++;
                }

                kind = TokenKind.Word;
            }
            else
            {
                end = i + 1;
                if (i + 1 < inner.Length && TwoCharOps.Contains(inner.Substring(i, 2)))
                {
                    end = i + 2;
                }

                kind = TokenKind.Punct;
            }

            tokens.Add(new Token(lead, inner[i..end], kind));
            i = end;
        }
    }

    /// <summary>Index of the quote closing the literal that starts at <paramref name="start"/>, or -1.</summary>
    public static int EndOfString(string text, int start)
    {
        var quote = text[start];
        for (var i = start + 1; i < text.Length; i++)
        {
            if (text[i] == '\\')
            {
                i++;
            }
            else if (text[i] == quote)
            {
                return i;
            }
        }

        return -1;
    }

    public static string Render(IEnumerable<Token> tokens)
    {
        var sb = new StringBuilder();
        foreach (var t in tokens)
        {
            sb.Append(t.Lead).Append(t.Text);
        }

        return sb.ToString();
    }
}

/// <summary>A tag split into its delimiters (with <c>-</c> whitespace control) and its tokens.</summary>
internal sealed class TagParts
{
    public required string Open { get; init; }
    public required string Close { get; init; }
    public required List<Token> Tokens { get; init; }
    public required string Trailing { get; init; }

    public static TagParts Split(string text, int open, int close)
    {
        var innerStart = open + 2;
        var innerEnd = close;
        var openTrim = innerStart < innerEnd && text[innerStart] == '-';
        if (openTrim)
        {
            innerStart++;
        }

        var closeTrim = innerEnd > innerStart && text[innerEnd - 1] == '-';
        if (closeTrim)
        {
            innerEnd--;
        }

        var delimiter = text[open + 1];
        var tokens = Tokenizer.Tokenize(text[innerStart..innerEnd], out var trailing);
        return new TagParts
        {
            Trailing = trailing,
            Open = "{" + delimiter + (openTrim ? "-" : ""),
            Close = (closeTrim ? "-" : "") + (delimiter == '{' ? "}}" : "%}"),
            Tokens = tokens,
        };
    }

    public string? FirstWord() => Tokens.Count > 0 && Tokens[0].Kind == TokenKind.Word ? Tokens[0].Text : null;

    public string Render(List<Token> tokens) => Open + Tokenizer.Render(tokens) + Trailing + Close;
}
