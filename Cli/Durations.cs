using System.Globalization;

namespace Mep.Cli;

/// <summary>Durations as people type them: <c>90</c> (seconds), <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>12h</c>, <c>1d</c>, <c>1h30m</c>.</summary>
internal static class Durations
{
    public static TimeSpan Parse(string text, string field)
    {
        var s = text.Trim();
        if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var bare))
        {
            return Checked(bare, 1, text, field);
        }

        if (s.Length == 0)
        {
            throw Invalid(text, field);
        }

        var total = TimeSpan.Zero;
        var i = 0;
        while (i < s.Length)
        {
            var start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
            {
                i++;
            }

            var unitStart = i;
            while (i < s.Length && char.IsAsciiLetter(s[i]))
            {
                i++;
            }

            if (unitStart == start || !double.TryParse(s[start..unitStart], NumberStyles.Float, CultureInfo.InvariantCulture, out var n))
            {
                throw Invalid(text, field);
            }

            var seconds = s[unitStart..i].ToLowerInvariant() switch
            {
                "ms" => 0.001,
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                "d" => 86400,
                _ => throw Invalid(text, field),
            };
            total += Checked(n, seconds, text, field);
        }

        return total;
    }

    private static TimeSpan Checked(double n, double unitSeconds, string text, string field)
    {
        var seconds = n * unitSeconds;
        if (double.IsNaN(seconds) || seconds <= 0 || seconds > TimeSpan.FromDays(3650).TotalSeconds)
        {
            throw new UsageException($"{field} '{text}' must be a positive duration of at most 10 years");
        }

        return TimeSpan.FromSeconds(seconds);
    }

    private static UsageException Invalid(string text, string field) =>
        new($"{field} '{text}' is not a duration (e.g. 90, 30s, 5m, 12h, 1h30m)");
}
