using System.CommandLine;
using Mep.Protocol;
using Spectre.Console;

namespace Mep.Cli.Commands;

/// <summary><c>mep endpoint show</c> and <c>mep endpoint stop-uep</c>.</summary>
internal static class EndpointCommands
{
    public static Command Create(CliContext context)
    {
        var endpoint = new Command("endpoint", "Inspect endpoints");
        var id = new Argument<string>("endpoint-id") { Description = "Endpoint id" };
        var json = new Option<bool>("--json") { Description = "Print the API's JSON" };
        var show = new Command("show", "Show an endpoint and your user endpoints on it") { id, json };
        context.SetAction(show, async (parse, cancellationToken) =>
        {
            var endpointId = parse.GetRequiredValue(id).Trim();
            if (endpointId.Length == 0)
            {
                throw new UsageException("endpoint id must not be empty");
            }

            using var client = context.CreateClient(parse);
            var view = await client.GetEndpointAsync(endpointId, cancellationToken);
            if (parse.GetValue(json))
            {
                context.Out.WriteLine(ProtocolJson.Serialize(view));
                return CliContext.ExitOk;
            }

            var console = context.CreateConsole();
            console.Write(Views.Fields(
                ("endpoint", view.EndpointId),
                ("name", view.DisplayName),
                ("local user", view.LocalUsername ?? "(your identity does not map to a local account)")));
            if (view.UserEndpoints.Count > 0)
            {
                var table = Views.Table("user endpoint", "state", "pending", "last heartbeat", "config", "reason");
                foreach (var uep in view.UserEndpoints)
                {
                    table.AddRow(Views.Cells(
                        uep.UserEndpointId, uep.State, uep.PendingTasks.ToString(),
                        uep.LastHeartbeat?.ToString("u"), uep.UserEndpointConfig.ToJsonString(), uep.Reason));
                }

                console.Write(table);
            }

            return CliContext.ExitOk;
        });
        endpoint.Subcommands.Add(show);
        endpoint.Subcommands.Add(StopUep(context));
        return endpoint;
    }

    /// <summary><c>mep endpoint stop-uep ENDPOINT UEP</c>: stops one user endpoint (yours, or any as an endpoint admin).</summary>
    private static Command StopUep(CliContext context)
    {
        var id = new Argument<string>("endpoint-id") { Description = "Endpoint id" };
        var uep = new Argument<string>("user-endpoint-id") { Description = "User endpoint id (see mep endpoint show)" };
        var json = new Option<bool>("--json") { Description = "Print the API's JSON" };
        var stop = new Command("stop-uep", "Stop a user endpoint: SIGTERM, then SIGKILL after the endpoint's grace period") { id, uep, json };
        context.SetAction(stop, async (parse, cancellationToken) =>
        {
            var endpointId = parse.GetRequiredValue(id).Trim();
            var uepId = parse.GetRequiredValue(uep).Trim();
            if (endpointId.Length == 0 || uepId.Length == 0)
            {
                throw new UsageException("endpoint id and user endpoint id must not be empty");
            }

            using var client = context.CreateClient(parse);
            var view = await client.StopUserEndpointAsync(endpointId, uepId, cancellationToken);
            if (parse.GetValue(json))
            {
                context.Out.WriteLine(ProtocolJson.Serialize(view));
                return CliContext.ExitOk;
            }

            context.CreateConsole().Write(Views.Fields(
                ("user endpoint", view.UserEndpointId),
                ("state", view.State),
                ("pending", view.PendingTasks.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                ("reason", view.Reason)));
            return CliContext.ExitOk;
        });
        return stop;
    }
}
