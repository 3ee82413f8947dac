using System.Text;
using System.Text.RegularExpressions;

namespace Mep.Identity;

/// <summary>A <c>match</c> pattern the mapping file may not contain; the message says what and where.</summary>
public sealed class MappingPatternException(string message) : FormatException(message);

/// <summary>
/// The <c>match</c> language of Globus Connect Server expression mappings: a reduced regular expression in which
/// only <c>.</c> <c>?</c> <c>*</c> <c>|</c> <c>( )</c> and backslash escapes are special, so that usernames and
/// domains can be written as they are (<c>+ ^ $ { } [ ]</c> are ordinary characters). A pattern always matches the
/// whole source. It is translated to a .NET regular expression once, when the mapping file loads, and everything
/// .NET would read differently or refuse is rejected then, with the position.
/// </summary>
public sealed class MappingPattern
{
    // Matching runs on each request against text from the caller's token: bound it, and treat a timeout as no match.
    private static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(50);
    private readonly Regex _regex;

    private MappingPattern(Regex regex, int groups)
    {
        _regex = regex;
        GroupCount = groups;
    }

    /// <summary>Parenthesised groups, which <c>output</c> names <c>{0}</c> … <c>{GroupCount-1}</c>.</summary>
    public int GroupCount { get; }

    public static MappingPattern Compile(string pattern, bool ignoreCase = false, bool literal = false)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var (translated, groups) = literal ? (Regex.Escape(pattern), 0) : Translate(pattern);
        var options = RegexOptions.CultureInvariant | (ignoreCase ? RegexOptions.IgnoreCase : RegexOptions.None);
        try
        {
            // \A and \z: '$' would also match before a final newline.
            return new MappingPattern(new Regex($@"\A(?:{translated})\z", options, MatchTimeout), groups);
        }
        catch (ArgumentException e)
        {
            // Translate rejects everything known to be invalid; this is the net under it.
            throw new MappingPatternException($"match '{pattern}' is not a valid pattern: {e.Message}");
        }
    }

    /// <summary>The captured groups (index 0 = first parenthesised group; null = did not take part), or null if no match.</summary>
    public IReadOnlyList<string?>? Match(string source)
    {
        Match m;
        try
        {
            m = _regex.Match(source);
        }
        catch (RegexMatchTimeoutException)
        {
            return null;
        }
        if (!m.Success)
        {
            return null;
        }
        var groups = new string?[GroupCount];
        for (var i = 0; i < GroupCount; i++)
        {
            groups[i] = m.Groups[i + 1].Success ? m.Groups[i + 1].Value : null;
        }
        return groups;
    }

    private static (string Regex, int Groups) Translate(string pattern)
    {
        var sb = new StringBuilder(pattern.Length * 2);
        var groups = 0;
        var depth = 0;
        // What the previous token was decides whether a quantifier may follow it.
        var previous = Token.Start;
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '\\':
                    if (i + 1 >= pattern.Length)
                    {
                        throw Reject(pattern, i, "ends with a lone backslash");
                    }
                    var next = pattern[++i];
                    if (char.IsAsciiDigit(next))
                    {
                        // A back-reference to group n (1 = first group), as in Python's re, which GCS uses.
                        var n = next - '0';
                        if (n == 0 || n > groups)
                        {
                            throw Reject(pattern, i - 1, $"refers to group {n}, which does not exist before it");
                        }
                        sb.Append('\\').Append(next);
                    }
                    else if (next is '.' or '?' or '*' or '|' or '(' or ')' or '\\')
                    {
                        sb.Append('\\').Append(next);
                    }
                    else
                    {
                        throw Reject(pattern, i - 1, $"escapes '{next}', which needs no escape (only . ? * | ( ) \\ and digits may follow a backslash)");
                    }
                    previous = Token.Atom;
                    break;
                case '?':
                case '*':
                    if (previous == Token.Start)
                    {
                        throw Reject(pattern, i, $"starts with '{c}', which has nothing to repeat");
                    }
                    if (previous == Token.Quantifier)
                    {
                        throw Reject(pattern, i, $"has '{pattern[i - 1]}{c}': a quantifier cannot follow a quantifier");
                    }
                    if (previous is Token.Open or Token.Alternation)
                    {
                        throw Reject(pattern, i, $"has '{c}' after '{pattern[i - 1]}', with nothing to repeat");
                    }
                    sb.Append(c);
                    previous = Token.Quantifier;
                    break;
                case '|':
                    sb.Append('|');
                    previous = Token.Alternation;
                    break;
                case '(':
                    // Every group captures, numbered from the left, as in the output's {N}.
                    sb.Append('(');
                    groups++;
                    depth++;
                    previous = Token.Open;
                    break;
                case ')':
                    if (depth == 0)
                    {
                        throw Reject(pattern, i, "closes a group that was never opened");
                    }
                    sb.Append(')');
                    depth--;
                    previous = Token.Atom;
                    break;
                case '.':
                    sb.Append('.');
                    previous = Token.Atom;
                    break;
                default:
                    sb.Append(Regex.Escape(c.ToString()));
                    previous = Token.Atom;
                    break;
            }
        }
        if (depth != 0)
        {
            throw new MappingPatternException($"match '{pattern}' leaves {depth} group(s) open");
        }
        return (sb.ToString(), groups);
    }

    private static MappingPatternException Reject(string pattern, int index, string problem) =>
        new($"match '{pattern}' {problem} (at character {index + 1})");

    private enum Token
    {
        Start,
        Atom,
        Quantifier,
        Alternation,
        Open,
    }
}
