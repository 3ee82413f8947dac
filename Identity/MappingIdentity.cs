using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Mep.Identity;

/// <summary>
/// An identity as mapping rules see it: named fields (<c>id</c>, <c>username</c>, <c>email</c>,
/// <c>identity_provider</c>, <c>name</c>, <c>organization</c>, <c>status</c>, or any other). A missing field and a
/// null one are the same to the rules.
/// </summary>
public sealed class MappingIdentity
{
    private readonly Dictionary<string, string?> _fields;

    public MappingIdentity(IEnumerable<KeyValuePair<string, string?>> fields) =>
        _fields = new Dictionary<string, string?>(fields, StringComparer.Ordinal);

    public string? this[string field] => _fields.GetValueOrDefault(field);

    public string Id => this["id"] ?? "";

    /// <summary>Every field as given, in the order given (what an external mapping program is sent).</summary>
    public IEnumerable<KeyValuePair<string, string?>> Fields => _fields;

    /// <summary>An identity object as GCS writes them: string fields are used; numbers and booleans as their JSON text.</summary>
    public static MappingIdentity FromJson(JsonObject json) => new(json
        .Select(p => new KeyValuePair<string, string?>(p.Key, p.Value switch
        {
            JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
            JsonValue v when v.GetValueKind() is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False =>
                v.ToJsonString(),
            _ => null,
        })));

    /// <summary>
    /// The identities of a GCS <c>identity_mapping_input</c> document (<c>{"identities": [...]}</c>) or of a plain
    /// JSON list of identity objects.
    /// </summary>
    public static IReadOnlyList<MappingIdentity> ParseSet(string json)
    {
        var root = JsonNode.Parse(json);
        var list = root switch
        {
            JsonArray a => a,
            JsonObject o when o["identities"] is JsonArray a => a,
            _ => throw new FormatException("identities must be a JSON list of identity objects, or an object with an \"identities\" list"),
        };
        return list.Select((node, i) => node is JsonObject o
                ? FromJson(o)
                : throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"identities[{i}] must be an object")))
            .ToList();
    }
}

/// <param name="Document">Index of the mapping document that produced it.</param>
/// <param name="Rule">Index of the rule in that document; null for an external program's answer (it has no rules).</param>
public sealed record MappingCandidate(string IdentityId, string Username, int Document, int? Rule);

/// <summary>A document that contributed nothing because it failed (an external program that crashed, timed out or answered wrongly).</summary>
public sealed record MappingFailure(int Document, string Reason);

/// <summary>
/// The chosen username (the first candidate) and the identity it came from, or nulls; every candidate; and every
/// document that failed, for the log (a failed document is skipped, the others still count).
/// </summary>
public sealed record MappingResult(
    string? Username,
    string? IdentityId,
    IReadOnlyList<MappingCandidate> Candidates,
    IReadOnlyList<MappingFailure> Failures);
