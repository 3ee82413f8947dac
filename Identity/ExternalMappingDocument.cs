using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Mep.Identity;

/// <summary>
/// An <c>external_identity_mapping#1.0.0</c> document: a site's own program decides (an LDAP lookup, a database).
/// It is run as <c>command… -c &lt;connector id&gt; -s &lt;endpoint id&gt; -a</c> with the identity set on stdin
/// (<c>identity_mapping_input#1.0.0</c>) and answers on stdout (<c>identity_mapping_output#1.0.0</c>). <c>-a</c> asks
/// for every mapping it can make; its answers count in the order it gives them. Anything wrong with a run (it fails,
/// hangs past the deadline, answers for an identity it was not asked about, or in another format) makes the document
/// contribute nothing, with the reason reported: a broken program must not map anyone by accident.
/// </summary>
internal sealed class ExternalMappingDocument : IMappingDocument
{
    public const string InputType = "identity_mapping_input#1.0.0";
    public const string OutputType = "identity_mapping_output#1.0.0";

    // GCS's own limit for the program's answer.
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    // An answer is a few hundred bytes; this only stops a runaway program from filling the silo's memory.
    public const int MaxOutputBytes = 1024 * 1024;

    private readonly IReadOnlyList<string> _command;

    private ExternalMappingDocument(IReadOnlyList<string> command) => _command = command;

    /// <summary>Checks the document when the file loads: the program must be there to run, not fail on the first request.</summary>
    public static ExternalMappingDocument Parse(JsonObject document, int index)
    {
        var where = $"document [{index}]";
        if (document["command"] is not JsonArray { Count: > 0 } command)
        {
            throw new FormatException($"{where}: command must be a non-empty list of strings (the program's absolute path, then its arguments)");
        }

        var argv = new List<string>(command.Count);
        for (var i = 0; i < command.Count; i++)
        {
            if (command[i] is not JsonValue v || v.GetValueKind() != JsonValueKind.String || v.GetValue<string>() is not { Length: > 0 } arg || arg.Contains('\0'))
            {
                throw new FormatException($"{where}.command[{i}] must be a non-empty string");
            }

            argv.Add(arg);
        }

        var program = argv[0];
        if (!Path.IsPathFullyQualified(program))
        {
            throw new FormatException($"{where}.command[0]: the program '{program}' must be an absolute path (it is run directly, with PATH=/usr/bin:/bin)");
        }

        if (!File.Exists(program))
        {
            throw new FormatException($"{where}.command[0]: the program '{program}' does not exist or is not a file");
        }

        const UnixFileMode anyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(program) & anyExecute) == 0)
        {
            throw new FormatException($"{where}.command[0]: the program '{program}' is not executable");
        }

        return new ExternalMappingDocument(argv);
    }

    public async Task<DocumentOutcome> MapAsync(int index, IReadOnlyList<MappingIdentity> identities, MappingContext context, CancellationToken ct)
    {
        // The set as given: the program sees every identity (with its status) and decides for itself.
        if (identities.Count == 0)
        {
            return DocumentOutcome.Nothing;
        }

        var argv = _command.Concat(["-c", context.ConnectorId, "-s", context.EndpointId, "-a"]).ToList();
        ProgramRun run;
        try
        {
            run = await ExternalProgram.RunAsync(argv, Input(identities), Timeout, MaxOutputBytes, ct).ConfigureAwait(false);
        }
        catch (ExternalProgramException e)
        {
            return DocumentOutcome.Failed(index, e.Message);
        }

        if (run.ExitCode != 0)
        {
            var stderr = run.StderrTail.Length > 0 ? $": {run.StderrTail}" : "";
            return DocumentOutcome.Failed(index, string.Create(CultureInfo.InvariantCulture, $"{_command[0]} exited with code {run.ExitCode}{stderr}"));
        }

        var (candidates, problem) = ReadOutput(run.Stdout, index, identities.Select(i => i.Id).ToHashSet(StringComparer.Ordinal));
        return problem is null
            ? new DocumentOutcome(candidates, null)
            : DocumentOutcome.Failed(index, $"{_command[0]}: {problem}");
    }

    private static byte[] Input(IReadOnlyList<MappingIdentity> identities) => JsonSerializer.SerializeToUtf8Bytes(new JsonObject
    {
        ["DATA_TYPE"] = InputType,
        ["identities"] = new JsonArray(identities
            .Select(i => (JsonNode)new JsonObject(i.Fields.Select(f => KeyValuePair.Create(f.Key, (JsonNode?)f.Value))))
            .ToArray()),
    });

    /// <summary>The candidates in the order the program gave them, or what is wrong with its answer.</summary>
    private static (IReadOnlyList<MappingCandidate> Candidates, string? Problem) ReadOutput(byte[] stdout, int index, HashSet<string> inputIds)
    {
        // GCS reads an empty stdout as "no mapping", not as a failure.
        if (new ReadOnlySpan<byte>(stdout).Trim(" \t\r\n"u8).IsEmpty)
        {
            return ([], null);
        }

        JsonNode? root;
        try
        {
            root = JsonNode.Parse(stdout);
        }
        catch (JsonException e)
        {
            return ([], $"its output is not valid JSON: {e.Message}");
        }

        if (root is not JsonObject output)
        {
            return ([], "its output is not a JSON object");
        }

        var type = output["DATA_TYPE"] is JsonValue t && t.GetValueKind() == JsonValueKind.String ? t.GetValue<string>() : null;
        if (type != OutputType)
        {
            return ([], $"its output's DATA_TYPE is {(type is null ? "missing" : $"'{type}'")}, not {OutputType}");
        }

        if (output["result"] is not JsonArray results)
        {
            return ([], "its output has no result list");
        }

        var candidates = new List<MappingCandidate>();
        for (var r = 0; r < results.Count; r++)
        {
            if (results[r] is not JsonObject entry || Text(entry["id"]) is not { } id || Text(entry["output"]) is not { } username)
            {
                return ([], $"result[{r}] must be an object with string id and output");
            }

            if (!inputIds.Contains(id))
            {
                return ([], $"result[{r}] names identity '{id}', which it was not asked to map");
            }

            if (username.Length > 0)
            {
                candidates.Add(new MappingCandidate(id, username, index, null));
            }
        }

        return (candidates, null);
    }

    private static string? Text(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;
}
