using System.CommandLine;
using Mep.Protocol;

namespace Mep.Cli.Commands;

/// <summary>
/// <c>mep admin audit ENDPOINT [filters] [--limit N] [--json]</c>: the endpoint's audit entries from every login node,
/// through the admin API (endpoint admins only). Same filters as <c>mep audit</c>, which reads one node's file.
/// </summary>
internal static class AdminAuditCommand
{
    public static Command Create(CliContext context)
    {
        var id = new Argument<string>("endpoint-id") { Description = "Endpoint id" };
        var filters = new AuditFilterOptions();
        var limit = new Option<int?>("--limit") { Description = "At most this many entries, the newest (the API's default: 1000; at most 10000)" };
        var json = new Option<bool>("--json") { Description = "Print the API's JSON" };
        var command = new Command("audit", "Query the endpoint's audit log on every login node: access decisions, UEP starts and exits, task events")
        {
            id,
        };
        filters.AddTo(command);
        command.Options.Add(limit);
        command.Options.Add(json);
        context.SetAction(command, async (parse, ct) =>
        {
            var endpointId = parse.GetRequiredValue(id).Trim();
            if (endpointId.Length == 0)
            {
                throw new UsageException("endpoint id must not be empty");
            }

            if (parse.GetValue(limit) is < 1)
            {
                throw new UsageException("--limit must be at least 1");
            }

            var q = filters.Read(parse, limit: parse.GetValue(limit));
            using var client = context.CreateClient(parse);
            var list = await client.QueryAuditAsync(endpointId, q.User, q.Since, q.Until, q.UserEndpointId,
                q.TaskId is { } task ? Guid.Parse(task) : null, q.Actions, q.Limit, ct);
            if (parse.GetValue(json))
            {
                context.Out.WriteLine(ProtocolJson.Serialize(list));
                return CliContext.ExitOk;
            }

            // Missing nodes first, on stderr: the table below lacks their entries.
            foreach (var failed in list.NodesFailed)
            {
                context.Error.WriteLine($"mep: warning: node {failed.Node} did not answer, its entries are missing: {failed.Reason}");
            }

            if (list.Entries.Count == 0)
            {
                context.Out.WriteLine("no matching audit entries");
            }
            else
            {
                context.CreateConsole().Write(AuditTable.Create(list.Entries.Select(e => ((string?)e.Node, e.Entry)), withNode: true));
            }

            context.Out.WriteLine($"{list.Entries.Count} entr{(list.Entries.Count == 1 ? "y" : "ies")} from {string.Join(", ", list.NodesAnswered)}"
                + (list.Truncated ? " (more matched: the oldest were left out; narrow the query or raise --limit)" : ""));
            return CliContext.ExitOk;
        });
        return command;
    }
}
