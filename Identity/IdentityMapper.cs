using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Mep.Identity;

/// <summary>
/// Maps a federated identity set to a local username with a Globus Connect Server mapping file (a JSON list of
/// documents with DATA_TYPE): <c>expression_identity_mapping#1.0.0</c> rules (<see cref="ExpressionMappingDocument"/>)
/// and <c>external_identity_mapping#1.0.0</c> programs (<see cref="ExternalMappingDocument"/>). Documents of a type
/// MEP does not know are skipped (<see cref="Warnings"/> says so). Immutable: a changed file is a new mapper
/// (<see cref="IdentityMappingFile"/> swaps them).
/// </summary>
public sealed class IdentityMapper
{
    private const string ExpressionType = "expression_identity_mapping";
    private const string ExternalType = "external_identity_mapping";
    private const string SupportedVersion = "1.0.0";
    private readonly IReadOnlyList<IMappingDocument> _documents;

    private IdentityMapper(IReadOnlyList<IMappingDocument> documents, IReadOnlyList<string> warnings)
    {
        _documents = documents;
        Warnings = warnings;
    }

    /// <summary>What the file holds that is not used (documents of unknown types), for the log.</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>The file's mapper; an invalid file throws <see cref="InvalidOperationException"/> naming the file, document, rule and reason.</summary>
    public static IdentityMapper Load(string path) => Parse(File.ReadAllBytes(path), path);

    /// <param name="path">Named in the error when the content is invalid.</param>
    internal static IdentityMapper Parse(byte[] content, string path)
    {
        try
        {
            // As File.ReadAllText would: a byte order mark is not part of the JSON.
            using var reader = new StreamReader(new MemoryStream(content), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            return Parse(reader.ReadToEnd());
        }
        catch (Exception e) when (e is JsonException or FormatException or ArgumentException or InvalidOperationException)
        {
            throw new InvalidOperationException($"{path}: {e.Message}", e);
        }
    }

    public static IdentityMapper Parse(string json)
    {
        var root = JsonNode.Parse(json) as JsonArray ?? throw new FormatException("the mapping file must be a JSON list of documents");
        var documents = new List<IMappingDocument>();
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

            switch (name)
            {
                case ExpressionType:
                    documents.Add(ExpressionMappingDocument.Parse(doc, d));
                    break;
                case ExternalType:
                    documents.Add(ExternalMappingDocument.Parse(doc, d));
                    break;
                default:
                    warnings.Add($"document [{d}]: DATA_TYPE '{type}' is not a mapping type MEP knows; skipped");
                    // Keeps document indexes in candidates and failures equal to the file's.
                    documents.Add(SkippedDocument.Instance);
                    break;
            }
        }

        return new IdentityMapper(documents, warnings);
    }

    /// <summary>
    /// Maps an identity set (a user's linked identities, in the order the token gives them). Precedence: document
    /// order, then within a document its own order (expression rules: rule, then identity; an external program: the
    /// order of its answers); the first non-empty result wins, and every result is reported. A document that fails
    /// (an external program that crashes, hangs or answers wrongly) contributes nothing and is reported in
    /// <see cref="MappingResult.Failures"/>.
    /// </summary>
    public async Task<MappingResult> MapAsync(IReadOnlyList<MappingIdentity> identities, MappingContext context, CancellationToken ct = default)
    {
        // All documents at once: every candidate is reported anyway, and two slow programs then cost one deadline.
        var outcomes = await Task.WhenAll(_documents.Select((document, d) => document.MapAsync(d, identities, context, ct))).ConfigureAwait(false);
        var candidates = outcomes.SelectMany(o => o.Candidates).ToList();
        var failures = outcomes.Select(o => o.Failure).OfType<MappingFailure>().ToList();
        return candidates.Count > 0
            ? new MappingResult(candidates[0].Username, candidates[0].IdentityId, candidates, failures)
            : new MappingResult(null, null, candidates, failures);
    }

    private sealed class SkippedDocument : IMappingDocument
    {
        public static readonly SkippedDocument Instance = new();

        public Task<DocumentOutcome> MapAsync(int index, IReadOnlyList<MappingIdentity> identities, MappingContext context, CancellationToken ct) =>
            Task.FromResult(DocumentOutcome.Nothing);
    }
}
