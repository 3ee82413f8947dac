namespace Mep.Cli.Doctor;

public enum FindingLevel
{
    Ok,
    Warn,
    Fail,
}

/// <summary>One line of <c>mep doctor</c>: what was checked, what was found and, when something is wrong, how to fix it.</summary>
public sealed record Finding(FindingLevel Level, string Subject, string Message, string? Fix = null)
{
    public static Finding Ok(string subject, string message) => new(FindingLevel.Ok, subject, message);

    public static Finding Warn(string subject, string message, string? fix = null) => new(FindingLevel.Warn, subject, message, fix);

    public static Finding Fail(string subject, string message, string fix) => new(FindingLevel.Fail, subject, message, fix);

    public override string ToString()
    {
        var level = Level switch { FindingLevel.Ok => "ok  ", FindingLevel.Warn => "warn", _ => "FAIL" };
        return $"{level}  {Subject}: {Message.ReplaceLineEndings(" ")}{(Fix is null ? "" : $" — fix: {Fix}")}";
    }
}
