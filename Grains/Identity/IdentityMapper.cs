using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Mep.Contracts.Model;

namespace Mep.Grains.Identity;

/// <summary>
/// Maps a federated identity to a local username with a Globus Connect Server mapping file (a JSON list of
/// documents with DATA_TYPE). First cut: <c>expression_identity_mapping#1.0.0</c> rules, applied in order, first
/// match wins. The full GCS semantics (reduced regex language, external programs) come with the identity issue.
/// </summary>
public sealed class IdentityMapper
{
    private const string ExpressionType = "expression_identity_mapping#1.0.0";
    private readonly IReadOnlyList<ExpressionRule> _rules;

    private IdentityMapper(IReadOnlyList<ExpressionRule> rules) => _rules = rules;

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
        var rules = new List<ExpressionRule>();
        for (var d = 0; d < root.Count; d++)
        {
            if (root[d] is not JsonObject doc || doc["DATA_TYPE"]?.GetValue<string>() is not { } type)
            {
                throw new FormatException($"document [{d}] must be an object with DATA_TYPE");
            }

            if (type != ExpressionType)
            {
                throw new FormatException($"document [{d}]: DATA_TYPE '{type}' is not supported yet");
            }

            var mappings = doc["mappings"] as JsonArray ?? throw new FormatException($"document [{d}]: mappings must be a list");
            for (var m = 0; m < mappings.Count; m++)
            {
                var rule = mappings[m] as JsonObject ?? throw new FormatException($"document [{d}].mappings[{m}] must be an object");
                string Str(string key) => rule[key]?.GetValue<string>() ?? throw new FormatException($"document [{d}].mappings[{m}].{key} is required");
                var ignoreCase = rule["ignore_case"]?.GetValue<bool>() ?? false;
                var options = RegexOptions.CultureInvariant | (ignoreCase ? RegexOptions.IgnoreCase : RegexOptions.None);
                rules.Add(new ExpressionRule(Str("source"), new Regex($"^(?:{Str("match")})$", options, TimeSpan.FromMilliseconds(100)), Str("output")));
            }
        }

        return new IdentityMapper(rules);
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
        foreach (var rule in _rules)
        {
            if (Fill(rule.Source, fields, null) is not { } source)
            {
                continue;
            }

            var match = rule.Match.Match(source);
            if (!match.Success)
            {
                continue;
            }

            if (Fill(rule.Output, fields, match) is { Length: > 0 } output)
            {
                return output;
            }
        }

        return null;
    }

    // {field} from the identity, {N} from capture group N (counting from 0 = first parenthesised group).
    private static string? Fill(string template, IReadOnlyDictionary<string, string?> fields, Match? match)
    {
        var failed = false;
        var result = Regex.Replace(template, @"\{([A-Za-z_][A-Za-z0-9_]*|[0-9]+)\}", m =>
        {
            var key = m.Groups[1].Value;
            if (char.IsAsciiDigit(key[0]))
            {
                var n = int.Parse(key, System.Globalization.CultureInfo.InvariantCulture) + 1;
                if (match is null || n >= match.Groups.Count || !match.Groups[n].Success)
                {
                    failed = true;
                    return "";
                }

                return match.Groups[n].Value;
            }

            if (fields.TryGetValue(key, out var value) && value is not null)
            {
                return value;
            }

            failed = true;
            return "";
        });
        return failed ? null : result;
    }

    private sealed record ExpressionRule(string Source, Regex Match, string Output);
}
