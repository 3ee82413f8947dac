using System.Globalization;

namespace Mep.Grains.Endpoints;

/// <summary>
/// Sizes in admin config files: a whole number of bytes, or one with a unit. K, M, G, T and KiB, MiB, GiB, TiB are
/// powers of 1024 (as systemd and Slurm read them); kB, MB, GB, TB powers of 1000. No fractions.
/// </summary>
public static class ByteSizes
{
    private static readonly (string Suffix, long Factor)[] Units =
    [
        ("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("TiB", 1L << 40),
        ("kB", 1000L), ("KB", 1000L), ("MB", 1000_000L), ("GB", 1000_000_000L), ("TB", 1000_000_000_000L),
        ("K", 1L << 10), ("M", 1L << 20), ("G", 1L << 30), ("T", 1L << 40), ("B", 1L),
    ];

    public static long Parse(string text, string field)
    {
        var t = text.Trim();
        var (number, factor) = (t, 1L);
        foreach (var (suffix, unit) in Units)
        {
            if (t.EndsWith(suffix, StringComparison.Ordinal))
            {
                (number, factor) = (t[..^suffix.Length].TrimEnd(), unit);
                break;
            }
        }

        if (number.Length == 0 || !long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            throw new FormatException($"{field}: '{text}' is not a size (e.g. 1073741824, 512M, 16GiB)");
        }

        try
        {
            return checked(n * factor);
        }
        catch (OverflowException)
        {
            throw new FormatException($"{field}: '{text}' is too large");
        }
    }
}
