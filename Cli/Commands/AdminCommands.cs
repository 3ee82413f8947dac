using System.CommandLine;
using System.Globalization;
using Mep.Protocol;
using Spectre.Console;

namespace Mep.Cli.Commands;

/// <summary><c>mep admin …</c>: what an endpoint's admins (config.yaml <c>admins</c>) may see and do across users.</summary>
internal static class AdminCommands
{
    private static readonly string[] States = ["stopped", "starting", "running", "stopping", "failed"];

    public static Command Create(CliContext context)
    {
        var admin = new Command("admin", "Endpoint admins: every user's user endpoints and the audit log; site admins: login nodes");
        admin.Subcommands.Add(UserEndpoints(context));
        admin.Subcommands.Add(User(context));
        admin.Subcommands.Add(AdminAuditCommand.Create(context));
        admin.Subcommands.Add(Nodes(context));
        admin.Subcommands.Add(Drain(context, "drain", drained: true, "Drain a login node: no new user endpoint processes start there; running ones finish"));
        admin.Subcommands.Add(Drain(context, "undrain", drained: false, "Return a drained login node to service"));
        return admin;
    }

    /// <summary><c>mep admin nodes [--json]</c> (site admins).</summary>
    private static Command Nodes(CliContext context)
    {
        var json = new Option<bool>("--json") { Description = "Print the API's JSON" };
        var command = new Command("nodes", "List the login nodes: live, drained (site admins)") { json };
        context.SetAction(command, async (parse, ct) =>
        {
            using var client = context.CreateClient(parse);
            var list = await client.ListNodesAsync(ct);
            if (parse.GetValue(json))
            {
                context.Out.WriteLine(ProtocolJson.Serialize(list));
                return CliContext.ExitOk;
            }

            var table = Views.Table("node", "live", "drained");
            foreach (var n in list.Nodes)
            {
                table.AddRow(Views.Cells(n.Node, n.Live ? "yes" : "no", n.Drained ? "yes" : "no"));
            }

            context.CreateConsole().Write(table);
            return CliContext.ExitOk;
        });
        return command;
    }

    /// <summary><c>mep admin drain|undrain NODE</c> (site admins).</summary>
    private static Command Drain(CliContext context, string name, bool drained, string description)
    {
        var node = new Argument<string>("node") { Description = "Node name (Mep:Cluster:NodeName)" };
        var command = new Command(name, description) { node };
        context.SetAction(command, async (parse, ct) =>
        {
            using var client = context.CreateClient(parse);
            var n = await client.SetNodeDrainedAsync(parse.GetRequiredValue(node).Trim(), drained, ct);
            context.Out.WriteLine($"{n.Node}: {(n.Drained ? "drained" : "in service")}{(n.Live ? "" : " (no live silo)")}");
            return CliContext.ExitOk;
        });
        return command;
    }

    /// <summary><c>mep admin user ENDPOINT IDENTITY [--json]</c>: the identity's mapping and its user endpoints.</summary>
    private static Command User(CliContext context)
    {
        var id = new Argument<string>("endpoint-id") { Description = "Endpoint id" };
        var identity = new Argument<string>("identity") { Description = "Federated username, e.g. alice@example.org" };
        var json = new Option<bool>("--json") { Description = "Print the API's JSON" };
        var command = new Command("user", "How an identity maps on an endpoint (account, rule, or why not) and its user endpoints") { id, identity, json };
        context.SetAction(command, async (parse, ct) =>
        {
            using var client = context.CreateClient(parse);
            var view = await client.ExplainUserAsync(parse.GetRequiredValue(id).Trim(), parse.GetRequiredValue(identity).Trim(), ct);
            if (parse.GetValue(json))
            {
                context.Out.WriteLine(ProtocolJson.Serialize(view));
                return CliContext.ExitOk;
            }

            var console = context.CreateConsole();
            console.Write(Views.Fields(
                ("identity", $"{view.IdentityUsername} ({view.IdentityId})"),
                ("local user", view.LocalUsername ?? "(none)"),
                ("refused", view.Refusal),
                ("rule", view.Candidates.Count > 0 ? view.Candidates[0].Rule : null)));
            foreach (var failure in view.DocumentFailures)
            {
                context.Out.WriteLine($"mapping document failed: {failure}");
            }

            var table = Views.Table("user endpoint", "state", "node", "pending", "last task", "reason");
            foreach (var u in view.UserEndpoints)
            {
                table.AddRow(Views.Cells(u.UserEndpointId, u.State, u.Node, u.PendingTasks.ToString(CultureInfo.InvariantCulture), u.LastTaskAt?.ToString("u"), u.Reason));
            }

            console.Write(table);
            return CliContext.ExitOk;
        });
        return command;
    }

    /// <summary><c>mep admin user-endpoints ENDPOINT [--user U] [--state S] [--node N] [--json]</c>.</summary>
    private static Command UserEndpoints(CliContext context)
    {
        var id = new Argument<string>("endpoint-id") { Description = "Endpoint id" };
        var user = new Option<string?>("--user") { Description = "Only this local account (or owner identity id)" };
        var state = new Option<string?>("--state") { Description = "Only user endpoints in this state" }.AcceptOnlyFromAmong(States);
        var node = new Option<string?>("--node") { Description = "Only user endpoints whose process runs (or last ran) on this login node" };
        var json = new Option<bool>("--json") { Description = "Print the API's JSON" };
        var command = new Command("user-endpoints", "List every user's user endpoints on an endpoint, most recently busy first")
        {
            id, user, state, node, json,
        };
        context.SetAction(command, async (parse, ct) =>
        {
            var endpointId = parse.GetRequiredValue(id).Trim();
            if (endpointId.Length == 0)
            {
                throw new UsageException("endpoint id must not be empty");
            }

            using var client = context.CreateClient(parse);
            var list = await client.ListUserEndpointsAsync(endpointId, parse.GetValue(user), parse.GetValue(state), parse.GetValue(node), ct);
            if (parse.GetValue(json))
            {
                context.Out.WriteLine(ProtocolJson.Serialize(list));
                return CliContext.ExitOk;
            }

            var table = Views.Table("user endpoint", "user", "state", "node", "pid", "pending", "age", "last task", "reason");
            var now = DateTimeOffset.UtcNow;
            foreach (var u in list.UserEndpoints)
            {
                table.AddRow(Views.Cells(
                    u.UserEndpointId, u.LocalUsername, u.State, u.Node, u.Pid?.ToString(CultureInfo.InvariantCulture),
                    u.PendingTasks.ToString(CultureInfo.InvariantCulture), u.StartedAt is { } s ? Age(now - s) : null, u.LastTaskAt?.ToString("u"),
                    u.Reason));
            }

            var console = context.CreateConsole();
            console.Write(table);
            context.Out.WriteLine($"{list.UserEndpoints.Count} user endpoint(s)");
            return CliContext.ExitOk;
        });
        return command;
    }

    private static string Age(TimeSpan t) =>
        t.TotalDays >= 1 ? $"{(int)t.TotalDays}d{t.Hours}h" : t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes}m" : $"{(int)t.TotalMinutes}m{t.Seconds}s";
}
