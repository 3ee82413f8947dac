using System.Text;

namespace Mep.Protocol.Shell;

/// <summary>
/// A shell function's command template: <c>{name}</c> is replaced by the shell-quoted argument
/// <c>name</c>; <c>{{</c> and <c>}}</c> are literal braces. Everything else is passed to /bin/sh as written
/// by the function's author (who is the same user who will run it).
/// </summary>
public static class ShellCommand
{
    /// <summary>Names of the placeholders, in order of first use. Throws <see cref="FormatException"/> on a malformed template.</summary>
    public static IReadOnlyList<string> Placeholders(string template)
    {
        var names = new List<string>();
        Walk(template, onText: null, onPlaceholder: name =>
        {
            if (!names.Contains(name))
            {
                names.Add(name);
            }
        });
        return names;
    }

    /// <summary>
    /// Fills the template. Every placeholder needs an argument and every argument must be used,
    /// so a misspelt argument name is an error instead of a silently different command.
    /// </summary>
    public static string Render(string template, IReadOnlyDictionary<string, string> args)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        var sb = new StringBuilder(template.Length + 16);
        Walk(template, onText: c => sb.Append(c), onPlaceholder: name =>
        {
            if (!args.TryGetValue(name, out var value))
            {
                throw new FormatException($"argument '{name}' is missing");
            }

            used.Add(name);
            sb.Append(ShellQuote.Quote(value));
        });
        foreach (var name in args.Keys)
        {
            if (!used.Contains(name))
            {
                throw new FormatException($"argument '{name}' is not used by the command");
            }
        }

        return sb.ToString();
    }

    private static void Walk(string template, Action<char>? onText, Action<string> onPlaceholder)
    {
        for (var i = 0; i < template.Length; i++)
        {
            var c = template[i];
            if (c == '{' && i + 1 < template.Length && template[i + 1] == '{')
            {
                onText?.Invoke('{');
                i++;
            }
            else if (c == '}' && i + 1 < template.Length && template[i + 1] == '}')
            {
                onText?.Invoke('}');
                i++;
            }
            else if (c == '{')
            {
                var end = template.IndexOf('}', i + 1);
                if (end < 0)
                {
                    throw new FormatException($"unclosed '{{' at position {i}");
                }

                var name = template.Substring(i + 1, end - i - 1);
                if (!IsName(name))
                {
                    throw new FormatException($"'{{{name}}}' at position {i} is not a placeholder name (letters, digits, '_'; use '{{{{' for a literal brace)");
                }

                onPlaceholder(name);
                i = end;
            }
            else if (c == '}')
            {
                throw new FormatException($"unmatched '}}' at position {i} (use '}}}}' for a literal brace)");
            }
            else
            {
                onText?.Invoke(c);
            }
        }
    }

    private static bool IsName(string name) =>
        name.Length > 0
        && (char.IsAsciiLetter(name[0]) || name[0] == '_')
        && name.All(ch => char.IsAsciiLetterOrDigit(ch) || ch == '_');
}
