using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mep.Identity;

namespace Mep.Cli.Commands;

/// <summary>
/// <c>mep mapping test</c>: what an identity mapping file makes of an identity set, with the same code the silo
/// runs, so admins can check a file before deploying it. Exit codes: 0 mapped, 1 no mapping, 2 invalid input.
/// </summary>
internal static class MappingCommands
{
    public const int ExitNoMapping = 1;

    public static Command Create(CliContext context)
    {
        var mapping = new Command("mapping", "Check identity mapping files");
        mapping.Subcommands.Add(Test(context));
        return mapping;
    }

    private static Command Test(CliContext context)
    {
        var mappingFile = new Option<string>("--mapping") { Description = "Identity mapping file (GCS format: a JSON list of documents)", Required = true };
        var identitiesFile = new Option<string>("--identities")
        {
            Description = "Identities: a JSON list of identity objects, or {\"identities\": [...]}, in the order of the set",
            Required = true,
        };
        var endpointId = new Option<string>("--endpoint-id")
        {
            Description = $"Endpoint id handed to external mapping programs (-s); default {MappingContext.NoEndpointId}",
        };
        var json = new Option<bool>("--json") { Description = "Print one JSON object: username, identity_id, candidates" };
        var command = new Command("test", "Show the username an identity set maps to, and every candidate") { mappingFile, identitiesFile, endpointId, json };
        context.SetAction(command, async (parse, ct) =>
        {
            var mapper = Load(parse.GetRequiredValue(mappingFile), "--mapping", path => IdentityMapper.Parse(File.ReadAllText(path)));
            var identities = Load(parse.GetRequiredValue(identitiesFile), "--identities", path => MappingIdentity.ParseSet(File.ReadAllText(path)));
            foreach (var warning in mapper.Warnings)
            {
                context.Error.WriteLine($"mep: warning: {warning}");
            }
            var result = await mapper.MapAsync(identities, MappingContext.ForEndpoint(parse.GetValue(endpointId) ?? MappingContext.NoEndpointId), ct);
            // A document that failed (an external program) does not change the exit code: the others still decided.
            foreach (var failure in result.Failures)
            {
                context.Error.WriteLine($"mep: warning: document [{failure.Document}] contributed nothing: {failure.Reason}");
            }

            if (parse.GetValue(json))
            {
                context.Out.WriteLine(ToJson(result).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            else
            {
                context.Out.WriteLine(result.Username is null
                    ? "no mapping"
                    : $"{result.Username} (from identity {result.IdentityId})");
                foreach (var c in result.Candidates)
                {
                    var from = c.Rule is { } rule ? $"rule {rule}" : "external program";
                    context.Out.WriteLine($"  candidate {c.Username} from identity {c.IdentityId} (document {c.Document}, {from})");
                }
            }
            return result.Username is null ? ExitNoMapping : CliContext.ExitOk;
        });
        return command;
    }

    private static T Load<T>(string path, string option, Func<string, T> load)
    {
        try
        {
            return load(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or FormatException or InvalidOperationException)
        {
            throw new UsageException($"{option} {path}: {e.Message}");
        }
    }

    private static JsonObject ToJson(MappingResult result) => new()
    {
        ["username"] = result.Username,
        ["identity_id"] = result.IdentityId,
        ["candidates"] = new JsonArray(result.Candidates.Select(c => (JsonNode)new JsonObject
        {
            ["username"] = c.Username,
            ["identity_id"] = c.IdentityId,
            ["document"] = c.Document,
            ["rule"] = c.Rule,
        }).ToArray()),
    };
}
