using System.Globalization;
using System.Text;

namespace Mep.Protocol.Python;

/// <summary>
/// What the cluster checks of a Python function before it stores it: parse-level facts only (nobody runs Python in the
/// silo). Shared by the API, the SDK and the CLI so that all three refuse the same things with the same words.
/// </summary>
public static class PythonSource
{
    /// <summary>Largest source accepted, in UTF-8 bytes: it travels in every task message of the function.</summary>
    public const int MaxSourceBytes = 1024 * 1024;

    public const int MaxEntryLength = 255;

    // Hard keywords of Python 3 (soft ones such as match, case and type are valid names).
    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal)
    {
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
        "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
        "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
    };

    /// <summary>Why <paramref name="source"/> cannot be a function's source, or null when it can.</summary>
    public static string? SourceProblem(string? source)
    {
        if (string.IsNullOrWhiteSpace(source))
        {
            return "must not be empty";
        }

        if (Encoding.UTF8.GetByteCount(source) > MaxSourceBytes)
        {
            return $"larger than {MaxSourceBytes} bytes (UTF-8)";
        }

        // CPython refuses source with a NUL ("source code string cannot contain null bytes"): say so now, not at run time.
        return source.Contains('\0') ? "contains a NUL character, which Python does not accept in source" : null;
    }

    /// <summary>Why <paramref name="entry"/> cannot name the function to call, or null when it can.</summary>
    public static string? EntryProblem(string? entry)
    {
        if (string.IsNullOrEmpty(entry))
        {
            return "must not be empty";
        }

        if (entry.Length > MaxEntryLength)
        {
            return $"longer than {MaxEntryLength} characters";
        }

        if (!IsIdentifier(entry))
        {
            return $"'{entry}' is not a Python identifier";
        }

        return Keywords.Contains(entry) ? $"'{entry}' is a Python keyword" : null;
    }

    /// <summary>
    /// Python's identifier rule (PEP 3131) by Unicode category: a letter, letter number or '_' first, then also marks,
    /// digits and connector punctuation. Close to XID_Start/XID_Continue; the rare characters where they differ are
    /// refused or accepted by CPython itself when the worker defines the function.
    /// </summary>
    public static bool IsIdentifier(string name)
    {
        if (name.Length == 0)
        {
            return false;
        }

        var first = true;
        foreach (var rune in name.EnumerateRunes())
        {
            var category = Rune.GetUnicodeCategory(rune);
            var start = rune.Value == '_' || category is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter
                or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter
                or UnicodeCategory.LetterNumber;
            var ok = first
                ? start
                : start || category is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark
                    or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.ConnectorPunctuation;
            if (!ok)
            {
                return false;
            }

            first = false;
        }

        return true;
    }
}
