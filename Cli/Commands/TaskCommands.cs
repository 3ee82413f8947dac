using System.CommandLine;
using Mep.Protocol;

namespace Mep.Cli.Commands;

/// <summary><c>mep task get</c>.</summary>
internal static class TaskCommands
{
    public static Command Create(CliContext context)
    {
        var task = new Command("task", "Inspect tasks");
        var id = new Argument<string>("task-id") { Description = "Task id" };
        var json = new Option<bool>("--json") { Description = "Print the API's JSON" };
        var get = new Command("get", "Show one task and its result") { id, json };
        context.SetAction(get, async (parse, cancellationToken) =>
        {
            var taskId = Parsing.Guid(parse.GetRequiredValue(id), "task id");
            using var client = context.CreateClient(parse);
            var view = await client.GetTaskAsync(taskId, cancellationToken);
            if (parse.GetValue(json))
            {
                context.Out.WriteLine(ProtocolJson.Serialize(view));
            }
            else
            {
                context.CreateConsole().Write(Views.Task(view));
            }

            return CliContext.ExitOk;
        });
        task.Subcommands.Add(get);
        return task;
    }
}
