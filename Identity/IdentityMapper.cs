using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Mep.Identity;

/// <summary>
/// Maps a federated identity to a local username with a Globus Connect Server mapping file (a JSON list of
/// documents with DATA_TYPE). <c>expression_identity_mapping#1.0.0</c> rules are applied in order, first non-empty
/// result wins; <c>match</c> is GCS's reduced regular-expression language (<see cref="MappingPattern"/>).
/// Documents of a type MEP does not know are skipped (<see cref="Warnings"/> says so); external mapping programs
/// are not supported yet.
/// </summary>
public sealed class IdentityMapper
{
    private const string ExpressionType = "expression_identity_mapping";
    private const string ExternalType = "external_identity_mapping";
    private const string SupportedVersion = "1.0.0";
    private readonly IReadOnlyList<MappingDocument> _documents;

    private IdentityMapper(IReadOnlyList<MappingDocument> documents, IReadOnlyList<string> warnings)
    {
        _documents = documents;
        Warnings = warnings;
    }

    /// <summary>What the file holds that is not used (documents of unknown types), for the log.</summary>
    public IReadOnlyList<string> Warnings { get; }

    public static IdentityMapper Load(string path)
    {
        try
        {
            return Parse(File.ReadAllText(path));
        }
        catch (Exception e) when (e is JsonException or FormatException or ArgumentException)
        {
            throw new InvalidOperationException($"{path}: {e.Message}", e);
        }
    }

    public static IdentityMapper Parse(string json)
    {
        var root = JsonNode.Parse(json) as JsonArray ?? throw new FormatException("the mapping file must be a JSON list of documents");
        var documents = new List<MappingDocument>();
        var warnings = new List<string>();
        for (var d = 0; d < root.Count; d++)
        {
            if (root[d] is not JsonObject doc)
            {
                throw new FormatException($"document [{d}] must be an object");
            }
            if (doc["DATA_TYPE"] is not JsonValue dataType || !dataType.TryGetValue<string>(out var type))
            {
                throw new FormatException($"document [{d}] has no DATA_TYPE");
            }
            var (name, version) = type.Split('#', 2) is [var n, var v] ? (n, v) : (type, "");
            if (name is ExpressionType or ExternalType && version != SupportedVersion)
            {
                throw new FormatException($"document [{d}]: DATA_TYPE '{type}': version {version} of {name} is not supported (only {SupportedVersion})");
            }
            if (name == ExternalType)
            {
                throw new FormatException($"document [{d}]: {ExternalType} (an external mapping program) is not supported yet");
            }
            if (name != ExpressionType)
            {
                warnings.Add($"document [{d}]: DATA_TYPE '{type}' is not a mapping type MEP knows; skipped");
                continue;
            }

            var rules = new List<ExpressionRule>();
            var mappings = doc["mappings"] as JsonArray ?? throw new FormatException($"document [{d}]: mappings must be a list");
            for (var m = 0; m < mappings.Count; m++)
            {
                var rule = mappings[m] as JsonObject ?? throw new FormatException($"document [{d}].mappings[{m}] must be an object");
                string Str(string key) => rule[key]?.GetValue<string>() ?? throw new FormatException($"document [{d}].mappings[{m}].{key} is required");
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
            documents.Add(new MappingDocument(rules));
        }

        return new IdentityMapper(documents, warnings);
    }

    /// <summary>
    /// Maps an identity set (a user's linked identities, in the order the token gives them). Precedence: document
    /// order, then rule order, then identity order; the first non-empty result wins, and every result is reported.
    /// Identities whose <c>status</c> is present and neither <c>used</c> nor <c>private</c> take no part.
    /// </summary>
    public MappingResult Map(IReadOnlyList<MappingIdentity> identities)
    {
        var usable = identities.Where(i => i["status"] is null or "used" or "private").ToList();
        var candidates = new List<MappingCandidate>();
        for (var d = 0; d < _documents.Count; d++)
        {
            var document = _documents[d];
            // GCS: a placeholder naming a field the identity lacks (or has as null) silences the whole document for it.
            var eligible = usable.Where(i => document.Fields.All(f => i[f] is not null)).ToList();
            for (var r = 0; r < document.Rules.Count; r++)
            {
                var rule = document.Rules[r];
                foreach (var identity in eligible)
                {
                    if (Fill(rule.Source, identity, null) is { } source && rule.Match.Match(source) is { } match
                        && Fill(rule.Output, identity, match) is { Length: > 0 } output)
                    {
                        candidates.Add(new MappingCandidate(identity.Id, output, d, r));
                    }
                }
            }
        }
        return candidates.Count > 0
            ? new MappingResult(candidates[0].Username, candidates[0].IdentityId, candidates)
            : new MappingResult(null, null, candidates);
    }

    /// <summary>One identity; the username it maps to, or null.</summary>
    public string? Map(MappingIdentity identity) => Map([identity]).Username;

    private static readonly Regex Placeholder = new(@"\{([A-Za-z_][A-Za-z0-9_]*|[0-9]+)\}", RegexOptions.CultureInvariant);

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
                if (groups is null || !int.TryParse(key, System.Globalization.CultureInfo.InvariantCulture, out var n)
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

    /// <summary>One expression document: its rules, and every identity field their placeholders name.</summary>
    private sealed class MappingDocument(IReadOnlyList<ExpressionRule> rules)
    {
        public IReadOnlyList<ExpressionRule> Rules => rules;

        public IReadOnlyList<string> Fields { get; } = rules
            .SelectMany(r => Placeholder.Matches(r.Source).Concat(Placeholder.Matches(r.Output)))
            .Select(m => m.Groups[1].Value)
            .Where(name => !char.IsAsciiDigit(name[0]))
            .Distinct()
            .ToList();
    }
}
