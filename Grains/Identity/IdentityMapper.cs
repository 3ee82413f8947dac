using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Mep.Contracts.Model;

namespace Mep.Grains.Identity;

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

    /// <summary>The local username for this identity, or null when no rule maps it.</summary>
    public string? Map(CallerIdentity identity)
    {
        var fields = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["username"] = identity.Username,
            ["id"] = identity.IdentityId,
            ["identity_provider"] = identity.IdentityProvider,
            ["name"] = identity.Name,
            ["email"] = identity.Email,
        };
        foreach (var document in _documents)
        {
            // GCS: a placeholder naming a field the identity lacks (or has as null) silences the whole document.
            if (document.Fields.Any(f => fields.GetValueOrDefault(f) is null))
            {
                continue;
            }
            foreach (var rule in document.Rules)
            {
                if (Fill(rule.Source, fields, null) is not { } source || rule.Match.Match(source) is not { } match)
                {
                    continue;
                }
                if (Fill(rule.Output, fields, match) is { Length: > 0 } output)
                {
                    return output;
                }
            }
        }

        return null;
    }

    private static readonly Regex Placeholder = new(@"\{([A-Za-z_][A-Za-z0-9_]*|[0-9]+)\}", RegexOptions.CultureInvariant);

    // {field} from the identity, {N} from capture group N (counting from 0 = first parenthesised group).
    private static string? Fill(string template, IReadOnlyDictionary<string, string?> fields, IReadOnlyList<string?>? groups)
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

            if (fields.TryGetValue(key, out var field) && field is not null)
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
