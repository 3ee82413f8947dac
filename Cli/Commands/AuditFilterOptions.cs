using System.CommandLine;
using System.Globalization;
using Mep.Contracts.Model;
using Mep.Grains.Audit;

namespace Mep.Cli.Commands;

/// <summary>
/// The filters of <c>mep audit</c> (this node's file) and <c>mep admin audit</c> (every node, through the API): the
/// same options, read into the same <see cref="AuditQuery"/>, which the silo and the file reader both apply.
/// </summary>
internal sealed class AuditFilterOptions
{
    private readonly Option<string> _user = new("--user")
    {
        Description = "Entries of this local account or identity username (as the mapping gave it, or as the caller presented it)",
    };

    private readonly Option<string> _since = new("--since") { Description = "From this long ago (90s, 30m, 1h, 2d) or this time (2025-01-31T12:00Z)" };
    private readonly Option<string> _until = new("--until") { Description = "Up to this long ago or this time" };
    private readonly Option<string> _userEndpoint = new("--uep") { Description = "Entries of this user endpoint id" };
    private readonly Option<string> _task = new("--task") { Description = "Entries of this task id" };

    private readonly Option<string[]> _action = new("--action")
    {
        Description = $"Only these actions (repeat or separate with commas): {string.Join(", ", AuditActions.All)}",
        AllowMultipleArgumentsPerToken = false,
    };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _user, _since, _until, _userEndpoint, _task, _action })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>The query the options ask for; a bad value is a <see cref="UsageException"/> naming its option.</summary>
    public AuditQuery Read(ParseResult parse, string? endpointId = null, int? limit = null)
    {
        var now = DateTimeOffset.UtcNow;
        var query = new AuditQuery(
            parse.GetValue(_user),
            parse.GetValue(_since) is { } s ? Time(s, "--since", now) : null,
            parse.GetValue(_until) is { } u ? Time(u, "--until", now) : null,
            endpointId,
            parse.GetValue(_userEndpoint),
            parse.GetValue(_task) is { } t ? Parsing.Guid(t, "--task").ToString() : null,
            Actions(parse.GetValue(_action)),
            limit);
        return query.Since > query.Until
            ? throw new UsageException($"--since ({query.Since:u}) is after --until ({query.Until:u})")
            : query;
    }

    /// <summary>A duration back from now, or an absolute time (ISO 8601; UTC unless it says otherwise).</summary>
    private static DateTimeOffset Time(string text, string option, DateTimeOffset now)
    {
        var trimmed = text.Trim();
        if (trimmed.Length > 0 && char.IsAsciiDigit(trimmed[0]) && (trimmed.Contains('-') || trimmed.Contains(':')))
        {
            return DateTimeOffset.TryParse(trimmed, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
                ? at
                : throw new UsageException($"{option} '{text}' is not a time (e.g. 2025-01-31T12:00Z) or a duration (e.g. 1h, 30m, 2d)");
        }

        return now - Durations.Parse(text, option);
    }

    private static List<string>? Actions(string[]? values)
    {
        if (values is null || values.Length == 0)
        {
            return null;
        }

        var actions = new List<string>();
        foreach (var value in values.SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)))
        {
            var known = AuditActions.All.FirstOrDefault(a => string.Equals(a, value, StringComparison.OrdinalIgnoreCase))
                ?? throw new UsageException($"--action '{value}' is not one of {string.Join(", ", AuditActions.All)}");
            if (!actions.Contains(known))
            {
                actions.Add(known);
            }
        }

        return actions.Count > 0 ? actions : throw new UsageException("--action needs at least one action");
    }
}
