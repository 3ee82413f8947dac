using System.Globalization;

namespace Mep.Grains.Endpoints;

/// <summary>Durations in admin config files: a number of seconds, or a number with a unit (ms, s, m, h, d).</summary>
public static class Durations
{
    public static TimeSpan Parse(string text, string field)
    {
        var t = text.Trim();
        var units = new (string Suffix, double Seconds)[] { ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400) };
        foreach (var (suffix, seconds) in units)
        {
            if (t.EndsWith(suffix, StringComparison.Ordinal)
                && double.TryParse(t[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var n))
            {
                return Checked(n * seconds, text, field);
            }
        }

        if (double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var plain))
        {
            return Checked(plain, text, field);
        }

        throw new FormatException($"{field}: '{text}' is not a duration (e.g. 30, 30s, 5m, 2h)");
    }

    private static TimeSpan Checked(double seconds, string text, string field) =>
        seconds > 0 && seconds < TimeSpan.MaxValue.TotalSeconds
            ? TimeSpan.FromSeconds(seconds)
            : throw new FormatException($"{field}: '{text}' must be a positive duration");
}
