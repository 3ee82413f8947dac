using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Mep.Identity;

/// <summary>
/// An <c>expression_identity_mapping#1.0.0</c> document: rules that fill <c>source</c> from an identity, match it
/// against <c>match</c> (<see cref="MappingPattern"/>) and fill <c>output</c>. Candidates come in rule order, then
/// identity order.
/// </summary>
internal sealed class ExpressionMappingDocument : IMappingDocument
{
    private static readonly Regex Placeholder = new(@"\{([A-Za-z_][A-Za-z0-9_]*|[0-9]+)\}", RegexOptions.CultureInvariant);

    private readonly IReadOnlyList<ExpressionRule> _rules;

    // Every identity field the rules' placeholders name.
    private readonly IReadOnlyList<string> _fields;

    private ExpressionMappingDocument(IReadOnlyList<ExpressionRule> rules)
    {
        _rules = rules;
        _fields = rules
            .SelectMany(r => Placeholder.Matches(r.Source).Concat(Placeholder.Matches(r.Output)))
            .Select(m => m.Groups[1].Value)
            .Where(name => !char.IsAsciiDigit(name[0]))
            .Distinct()
            .ToList();
    }

    public static ExpressionMappingDocument Parse(JsonObject document, int d)
    {
        var rules = new List<ExpressionRule>();
        var mappings = document["mappings"] as JsonArray ?? throw new FormatException($"document [{d}]: mappings must be a list");
        for (var m = 0; m < mappings.Count; m++)
        {
            var rule = mappings[m] as JsonObject ?? throw new FormatException($"document [{d}].mappings[{m}] must be an object");
            string Str(string key) => rule[key] switch
            {
                null => throw new FormatException($"document [{d}].mappings[{m}].{key} is required"),
                JsonValue v when v.TryGetValue<string>(out var s) => s,
                _ => throw new FormatException($"document [{d}].mappings[{m}].{key} must be a string"),
            };
            bool Flag(string key) => rule[key] is null ? false
                : rule[key] is JsonValue v && v.TryGetValue<bool>(out var b) ? b
                : throw new FormatException($"document [{d}].mappings[{m}].{key} must be true or false");
            MappingPattern pattern;
            try
            {
                pattern = MappingPattern.Compile(Str("match"), Flag("ignore_case"), Flag("literal"));
            }
            catch (MappingPatternException e)
            {
                throw new FormatException($"document [{d}].mappings[{m}]: {e.Message}", e);
            }

            rules.Add(new ExpressionRule(Str("source"), pattern, Str("output")));
        }

        return new ExpressionMappingDocument(rules);
    }

    public Task<DocumentOutcome> MapAsync(int index, IReadOnlyList<MappingIdentity> identities, MappingContext context, CancellationToken ct)
    {
        // Identities whose status is present and neither used nor private take no part. GCS: a placeholder naming
        // a field the identity lacks (or has as null) silences the whole document for it.
        var eligible = identities
            .Where(i => i["status"] is null or "used" or "private")
            .Where(i => _fields.All(f => i[f] is not null))
            .ToList();
        var candidates = new List<MappingCandidate>();
        for (var r = 0; r < _rules.Count; r++)
        {
            var rule = _rules[r];
            foreach (var identity in eligible)
            {
                if (Fill(rule.Source, identity, null) is { } source && rule.Match.Match(source) is { } match
                    && Fill(rule.Output, identity, match) is { Length: > 0 } output)
                {
                    candidates.Add(new MappingCandidate(identity.Id, output, index, r));
                }
            }
        }

        return Task.FromResult(new DocumentOutcome(candidates, null));
    }

    // {field} from the identity, {N} from capture group N (counting from 0 = first parenthesised group).
    private static string? Fill(string template, MappingIdentity fields, IReadOnlyList<string?>? groups)
    {
        var failed = false;
        var result = Placeholder.Replace(template, m =>
        {
            var key = m.Groups[1].Value;
            if (char.IsAsciiDigit(key[0]))
            {
                // A group past the last one, or one that did not take part, means no mapping from this rule.
                if (groups is null || !int.TryParse(key, CultureInfo.InvariantCulture, out var n)
                    || n >= groups.Count || groups[n] is not { } value)
                {
                    failed = true;
                    return "";
                }

                return value;
            }

            if (fields[key] is { } field)
            {
                return field;
            }

            failed = true;
            return "";
        });
        return failed ? null : result;
    }

    private sealed record ExpressionRule(string Source, MappingPattern Match, string Output);
}
