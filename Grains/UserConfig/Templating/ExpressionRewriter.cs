namespace Mep.Grains.UserConfig.Templating;

/// <summary>
/// Rewrites Jinja expression forms into Liquid filter calls on our functions (see <see cref="TemplateFunctions"/>):
/// <c>x is [not] defined</c>, <c>a [not] in b</c>, <c>not x</c>, Jinja filter calls <c>f(args)</c>, and Jinja's
/// literal spellings. Operands follow Jinja's precedence: filters bind tighter than <c>is</c>/<c>in</c>, which bind
/// tighter than <c>not</c>, <c>and</c>, <c>or</c>; each rewritten operand is parenthesised.
/// </summary>
internal static class ExpressionRewriter
{
    private static readonly Dictionary<string, string> FilterNames = new()
    {
        ["default"] = TemplateFunctions.Default,
        ["length"] = "size",
        ["lower"] = "downcase",
        ["upper"] = "upcase",
    };

    private static readonly Dictionary<string, string> Literals = new()
    {
        ["None"] = "nil",
        ["none"] = "nil",
        ["True"] = "true",
        ["False"] = "false",
    };

    // Tokens that end an operand of 'is'/'in' (Jinja's comparison level) when met outside brackets.
    private static readonly HashSet<string> ComparisonBoundaries =
        ["and", "or", "not", "if", "elsif", "unless", "is", "in", "contains", ",", ":", "=", "==", "!=", "<", ">", "<=", ">="];

    // Tokens that end the operand of a unary 'not'.
    private static readonly HashSet<string> NotBoundaries = ["and", "or", ","];

    /// <summary>Rewrites <paramref name="tokens"/> from index <paramref name="start"/> on; earlier tokens are kept.</summary>
    public static List<Token> Rewrite(List<Token> tokens, int start)
    {
        var t = new List<Token>(tokens);
        Spellings(t, start);
        FilterCalls(t, start);
        IsDefined(t, start);
        InOperator(t, start);
        UnaryNot(t, start);
        return t;
    }

    private static void Spellings(List<Token> t, int start)
    {
        for (var i = start; i < t.Count; i++)
        {
            if (t[i].Kind != TokenKind.Word || (i > 0 && t[i - 1].Is(".")))
            {
                continue;
            }

            if (Literals.TryGetValue(t[i].Text, out var literal))
            {
                t[i] = t[i] with { Text = literal };
            }
            else if (t[i].Text == "loop" && i + 1 < t.Count && t[i + 1].Is("."))
            {
                t[i] = t[i] with { Text = "forloop" };
            }
        }
    }

    /// <summary><c>| f(a)</c> → <c>| f: (a)</c>, <c>| f(a, b)</c> → <c>| f: a, b</c>, <c>| f()</c> → <c>| f</c>.</summary>
    private static void FilterCalls(List<Token> t, int start)
    {
        for (var i = start; i + 1 < t.Count; i++)
        {
            if (!t[i].Is("|") || t[i + 1].Kind != TokenKind.Word)
            {
                continue;
            }

            if (FilterNames.TryGetValue(t[i + 1].Text, out var name))
            {
                t[i + 1] = t[i + 1] with { Text = name };
            }

            if (i + 2 >= t.Count || !t[i + 2].Is("(") || t[i + 2].Lead.Length > 0)
            {
                continue;
            }

            var open = i + 2;
            var close = MatchClose(t, open);
            if (close < 0)
            {
                continue; // unbalanced: leave it for Scriban's parser to report
            }

            if (close == open + 1)
            {
                t.RemoveRange(open, 2);
            }
            else if (HasTopLevel(t, open + 1, close, ","))
            {
                t[close] = t[close] with { Text = "" };
                t[open] = t[open] with { Text = ":" };
            }
            else
            {
                t.Insert(open, Token.Punct(":"));
                t[open + 1] = t[open + 1] with { Lead = " " };
            }
        }
    }

    /// <summary><c>x is defined</c> → <c>((x) | mep_defined)</c>; <c>x is not defined</c> → <c>mep_undefined</c>.</summary>
    private static void IsDefined(List<Token> t, int start)
    {
        for (var i = start; i < t.Count; i++)
        {
            if (!t[i].Is("is"))
            {
                continue;
            }

            var negated = i + 1 < t.Count && t[i + 1].Is("not");
            var testAt = negated ? i + 2 : i + 1;
            if (testAt >= t.Count || !t[testAt].Is("defined"))
            {
                continue; // other Jinja tests are not supported: Scriban reports the stray word
            }

            var left = OperandStart(t, i, start);
            var function = negated ? TemplateFunctions.Undefined : TemplateFunctions.Defined;
            var replacement = Group(t, left, i, null, [Token.Punct("|", " "), Token.Word(function)]);
            t.RemoveRange(left, testAt + 1 - left);
            t.InsertRange(left, replacement);
            i = left + replacement.Count - 1;
        }
    }

    /// <summary><c>a in b</c> → <c>((a) | mep_in: (b))</c>; <c>a not in b</c> → <c>mep_not_in</c>.</summary>
    private static void InOperator(List<Token> t, int start)
    {
        // In '{% for x in list %}' the first 'in' belongs to the loop.
        var skip = start < t.Count && t[start].Is("for") ? 2 : -1;
        for (var i = start; i < t.Count; i++)
        {
            if (!t[i].Is("in") || i == start + skip)
            {
                continue;
            }

            var negated = i > start && t[i - 1].Is("not");
            var op = negated ? i - 1 : i;
            var left = OperandStart(t, op, start);
            var rightEnd = OperandEnd(t, i + 1, ComparisonBoundaries);
            if (left == op || rightEnd == i + 1)
            {
                continue; // a missing operand is Scriban's error to report
            }

            var function = negated ? TemplateFunctions.NotIn : TemplateFunctions.In;
            var right = t.GetRange(i + 1, rightEnd - i - 1);
            var replacement = Group(t, left, op, right, [Token.Punct("|", " "), Token.Word(function), Token.Punct(":")]);
            t.RemoveRange(left, rightEnd - left);
            t.InsertRange(left, replacement);
            i = left + replacement.Count - 1;
        }
    }

    /// <summary><c>not x</c> → <c>((x) | mep_not)</c>, the operand running to the next <c>and</c>/<c>or</c>.</summary>
    private static void UnaryNot(List<Token> t, int start)
    {
        for (var i = t.Count - 1; i >= start; i--)
        {
            if (!t[i].Is("not"))
            {
                continue;
            }

            var end = OperandEnd(t, i + 1, NotBoundaries);
            if (end == i + 1)
            {
                continue;
            }

            var operand = t.GetRange(i + 1, end - i - 1);
            var replacement = new List<Token> { Token.Punct("(", t[i].Lead), Token.Punct("(") };
            replacement.AddRange(Unlead(operand));
            replacement.AddRange([Token.Punct(")"), Token.Punct("|", " "), Token.Word(TemplateFunctions.Not), Token.Punct(")")]);
            t.RemoveRange(i, end - i);
            t.InsertRange(i, replacement);
        }
    }

    /// <summary>((left) | f[: (right)]) keeping the lead whitespace of the first token.</summary>
    private static List<Token> Group(List<Token> t, int left, int opIndex, List<Token>? right, Token[] call)
    {
        var result = new List<Token> { Token.Punct("(", t[left].Lead), Token.Punct("(") };
        result.AddRange(Unlead(t.GetRange(left, opIndex - left)));
        result.Add(Token.Punct(")"));
        result.AddRange(call);
        if (right is not null)
        {
            result.Add(Token.Punct("(", " "));
            result.AddRange(Unlead(right));
            result.Add(Token.Punct(")"));
        }

        result.Add(Token.Punct(")"));
        return result;
    }

    private static IEnumerable<Token> Unlead(List<Token> tokens) =>
        tokens.Select((tok, k) => k == 0 ? tok with { Lead = "" } : tok); // its lead went to the opening bracket

    /// <summary>Start of the operand ending just before <paramref name="op"/>: back to a boundary or an open bracket.</summary>
    private static int OperandStart(List<Token> t, int op, int floor)
    {
        var depth = 0;
        for (var j = op - 1; j >= floor; j--)
        {
            if (t[j].Is(")") || t[j].Is("]"))
            {
                depth++;
            }
            else if (t[j].Is("(") || t[j].Is("["))
            {
                if (depth == 0)
                {
                    return j + 1;
                }

                depth--;
            }
            else if (depth == 0 && IsBoundary(t[j], ComparisonBoundaries))
            {
                return j + 1;
            }
        }

        return floor;
    }

    /// <summary>End (exclusive) of the operand starting at <paramref name="from"/>.</summary>
    private static int OperandEnd(List<Token> t, int from, HashSet<string> boundaries)
    {
        var depth = 0;
        for (var j = from; j < t.Count; j++)
        {
            if (t[j].Is("(") || t[j].Is("["))
            {
                depth++;
            }
            else if (t[j].Is(")") || t[j].Is("]"))
            {
                if (depth == 0)
                {
                    return j;
                }

                depth--;
            }
            else if (depth == 0 && j > from && IsBoundary(t[j], boundaries))
            {
                return j;
            }
        }

        return t.Count;
    }

    private static bool IsBoundary(Token token, HashSet<string> boundaries) =>
        token.Kind is TokenKind.Word or TokenKind.Punct && boundaries.Contains(token.Text);

    private static int MatchClose(List<Token> t, int open)
    {
        var depth = 0;
        for (var j = open; j < t.Count; j++)
        {
            if (t[j].Is("(") || t[j].Is("["))
            {
                depth++;
            }
            else if ((t[j].Is(")") || t[j].Is("]")) && --depth == 0)
            {
                return j;
            }
        }

        return -1;
    }

    private static bool HasTopLevel(List<Token> t, int from, int to, string text)
    {
        var depth = 0;
        for (var j = from; j < to; j++)
        {
            if (t[j].Is("(") || t[j].Is("["))
            {
                depth++;
            }
            else if (t[j].Is(")") || t[j].Is("]"))
            {
                depth--;
            }
            else if (depth == 0 && t[j].Is(text))
            {
                return true;
            }
        }

        return false;
    }
}
