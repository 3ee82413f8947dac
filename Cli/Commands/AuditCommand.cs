using System.CommandLine;
using Mep.Grains.Audit;

namespace Mep.Cli.Commands;

/// <summary>
/// <c>mep audit</c>: reads this node's audit log (the live file and its rotated predecessors, oldest first), keeps the
/// entries that match every filter given, and prints them as a table or, with --json, as the stored JSON lines.
/// Runs on the node, as an account that can read the file (root, or the silo's account or group): no API involved.
/// Every node's log, through the API: <c>mep admin audit</c>.
/// </summary>
internal static class AuditCommand
{
    /// <summary>The silo's default: <c>audit.log</c> in its default data directory (Mep:DataDirectory).</summary>
    public const string DefaultFile = "/var/lib/mep/audit.log";

    public static Command Create(CliContext context)
    {
        var filters = new AuditFilterOptions();
        var endpoint = new Option<string>("--endpoint") { Description = "Entries of this endpoint id" };
        var json = new Option<bool>("--json") { Description = "Print the matching entries as stored: one JSON object per line" };
        var file = new Option<string>("--file") { Description = $"The audit log (its rotated files PATH.1, PATH.2, … are read too); default {DefaultFile}" };
        var command = new Command("audit", "Query this node's audit log: access decisions, UEP starts and exits, task events");
        filters.AddTo(command);
        command.Options.Add(endpoint);
        command.Options.Add(json);
        command.Options.Add(file);
        context.SetAction(command, (parse, ct) =>
        {
            var query = filters.Read(parse, parse.GetValue(endpoint));
            var path = parse.GetValue(file) ?? DefaultFile;
            AuditReadResult read;
            try
            {
                read = AuditLogReader.Read(path, query, ct);
            }
            catch (AuditLogUnreadableException e)
            {
                throw new UsageException($"--file {e.Message}");
            }

            if (read.Skipped > 0)
            {
                context.Error.WriteLine($"mep: warning: skipped {read.Skipped} line{(read.Skipped == 1 ? "" : "s")} of {path} (or its rotated files) that are not audit entries");
            }

            if (parse.GetValue(json))
            {
                foreach (var match in read.Matches)
                {
                    context.Out.WriteLine(match.Line);
                }
            }
            else if (read.Matches.Count == 0)
            {
                context.Out.WriteLine("no matching audit entries");
            }
            else
            {
                context.CreateConsole().Write(AuditTable.Create(read.Matches.Select(m => ((string?)null, m.Entry)), withNode: false));
            }

            return Task.FromResult(CliContext.ExitOk);
        });
        return command;
    }
}
