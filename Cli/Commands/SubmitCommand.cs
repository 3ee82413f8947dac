using System.CommandLine;
using System.Text.Json.Nodes;
using Mep.Protocol;
using Mep.Protocol.Api;
using Mep.Sdk;
using Spectre.Console;

namespace Mep.Cli.Commands;

/// <summary>
/// <c>mep submit</c>: N tasks through the SDK's <see cref="Executor"/> (batched submission, one status loop), then a
/// table or JSON lines. A task counts as succeeded when its status is success and its return code is 0 (or absent).
/// Exit 0 when all succeeded, 1 when any failed or the --timeout passed first, 2 when the API refused the submission.
/// </summary>
internal static class SubmitCommand
{
    public const int MaxCount = 100_000;

    public static Command Create(CliContext context)
    {
        var endpoint = new Option<string>("--endpoint") { Description = "Endpoint id", Required = true };
        var function = new Option<string>("--function") { Description = "Function id", Required = true };
        var args = new Option<string[]>("--arg") { Description = "Shell function argument name=value (repeatable)" };
        var argsJson = new Option<string>("--args-json") { Description = "Python function: positional arguments, a JSON array, or @file.json" };
        var kwargsJson = new Option<string>("--kwargs-json") { Description = "Python function: keyword arguments, a JSON object, or @file.json" };
        var config = new Option<string>("--config") { Description = "User endpoint config: JSON object, or @file.json" };
        var count = new Option<int>("--count") { Description = "How many tasks to submit", DefaultValueFactory = _ => 1 };
        var walltime = new Option<string>("--walltime") { Description = "Walltime per task, overriding the function's (e.g. 60, 5m)" };
        var timeout = new Option<string>("--timeout") { Description = "Stop waiting after this long (e.g. 30s, 5m); default: wait until done" };
        var json = new Option<bool>("--json") { Description = "Print one JSON task view per line instead of a table" };

        var command = new Command("submit", "Submit tasks to an endpoint, wait for them and print their results")
        {
            endpoint, function, args, argsJson, kwargsJson, config, count, walltime, timeout, json,
        };
        context.SetAction(command, async (parse, cancellationToken) =>
        {
            var endpointId = parse.GetRequiredValue(endpoint).Trim();
            if (endpointId.Length == 0)
            {
                throw new UsageException("--endpoint must not be empty");
            }

            var functionId = Parsing.Guid(parse.GetRequiredValue(function), "--function");
            var arguments = Parsing.Args(parse.GetValue(args));
            var call = PythonArguments(parse.GetValue(argsJson), parse.GetValue(kwargsJson));
            if (arguments is not null && call is not null)
            {
                throw new UsageException("give --arg (shell functions) or --args-json / --kwargs-json (Python functions), not both");
            }

            var userConfig = Parsing.Config(parse.GetValue(config));
            var n = parse.GetValue(count);
            if (n is < 1 or > MaxCount)
            {
                throw new UsageException($"--count {n} must be between 1 and {MaxCount}");
            }

            double? walltimeSeconds = parse.GetValue(walltime) is { } w ? Durations.Parse(w, "--walltime").TotalSeconds : null;
            var timeoutText = parse.GetValue(timeout);
            TimeSpan? wait = timeoutText is null ? null : Durations.Parse(timeoutText, "--timeout");

            using var client = context.CreateClient(parse);
            var run = new Run(context, client, endpointId, userConfig, wait, timeoutText);
            Func<Executor, SubmittedTask> submit = call is { } c
                ? executor => executor.SubmitPythonTracked(functionId, c.Args, c.Kwargs, walltimeSeconds)
                : executor => executor.SubmitTracked(functionId, arguments, walltimeSeconds);
            return await run.ExecuteAsync(submit, n, parse.GetValue(json), cancellationToken);
        });
        return command;
    }

    /// <summary>The Python call's arguments when either option is given (the other defaults to empty); else null.</summary>
    private static (JsonArray Args, JsonObject Kwargs)? PythonArguments(string? args, string? kwargs)
    {
        if (args is null && kwargs is null)
        {
            return null;
        }

        var positional = args is null ? [] : Parsing.Json(args, "--args-json") as JsonArray
            ?? throw new UsageException("--args-json must be a JSON array ([...])");
        var keywords = kwargs is null ? [] : Parsing.Json(kwargs, "--kwargs-json") as JsonObject
            ?? throw new UsageException("--kwargs-json must be a JSON object ({...})");
        return (positional, keywords);
    }

    private sealed class Run(
        CliContext context, MepClient client, string endpointId, JsonObject? userConfig, TimeSpan? wait, string? waitText)
    {
        public async Task<int> ExecuteAsync(Func<Executor, SubmittedTask> submit, int count, bool json, CancellationToken cancellationToken)
        {
            var executor = new Executor(client, endpointId, userConfig);
            var tasks = new List<SubmittedTask>(count);
            for (var i = 0; i < count; i++)
            {
                tasks.Add(submit(executor));
            }

            var finished = Task.WhenAll(tasks.Select(t => (Task)t.Completion));
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (wait is { } w)
            {
                deadline.CancelAfter(w);
            }

            await WaitAsync(tasks, finished, deadline.Token);
            var timedOut = !finished.IsCompleted;
            try
            {
                // Done or out of time: stop the executor without waiting further; unfinished tasks keep running remotely.
                await executor.ShutdownAsync(waitForResults: false, new CancellationToken(timedOut));
            }
            catch (OperationCanceledException)
            {
                // Expected when timed out: the executor cancels what it still had in flight.
            }

            cancellationToken.ThrowIfCancellationRequested();
            return Report(tasks, json, timedOut);
        }

        private async Task WaitAsync(List<SubmittedTask> tasks, Task finished, CancellationToken deadline)
        {
            try
            {
                if (context.Environment.OutputIsTerminal && tasks.Count > 1)
                {
                    await ShowProgressAsync(tasks, finished, deadline);
                }
                else
                {
                    await finished.WaitAsync(deadline);
                }
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                // Timed out (or interrupted): report what finished.
            }
            catch (Exception) when (finished.IsCompleted)
            {
                // Some task faulted (rejected batch, lost task): each is reported from its own state below.
            }
        }

        /// <summary>Two bars, accepted and finished. Refreshing the bars reads local task state; it makes no requests.</summary>
        private async Task ShowProgressAsync(List<SubmittedTask> tasks, Task finished, CancellationToken deadline)
        {
            await context.CreateConsole().Progress().AutoClear(true).StartAsync(async progress =>
            {
                var accepted = progress.AddTask("accepted", maxValue: tasks.Count);
                var done = progress.AddTask("finished", maxValue: tasks.Count);
                while (true)
                {
                    accepted.Value = tasks.Count(t => t.Accepted.IsCompleted);
                    done.Value = tasks.Count(t => t.Completion.IsCompleted);
                    if (finished.IsCompleted || deadline.IsCancellationRequested)
                    {
                        return;
                    }

                    await Task.WhenAny(finished, Task.Delay(TimeSpan.FromMilliseconds(100), deadline));
                }
            });
        }

        private int Report(List<SubmittedTask> tasks, bool json, bool timedOut)
        {
            var rows = new List<(Guid? Id, TaskView? View, string State)>();
            Exception? apiError = null;
            var rejected = 0;
            foreach (var task in tasks)
            {
                if (task.Completion.IsCompletedSuccessfully)
                {
                    rows.Add((task.TaskId, task.Completion.Result, Views.Status(task.Completion.Result.Status)));
                }
                else if (task.Completion.IsFaulted && task.TaskId is null)
                {
                    apiError ??= task.Completion.Exception!.InnerException;
                    rejected++;
                }
                else if (task.Completion.IsFaulted)
                {
                    // Accepted, then lost (the server forgot it, or refused status questions): report it like an API error.
                    apiError ??= task.Completion.Exception!.InnerException;
                    rows.Add((task.TaskId, null, "lost"));
                }
                else
                {
                    rows.Add((task.TaskId, null, "pending")); // still pending when we stopped waiting
                }
            }

            if (rows.Count > 0)
            {
                if (json)
                {
                    WriteJsonLines(rows);
                }
                else
                {
                    WriteTable(rows);
                }
            }

            if (apiError is not null)
            {
                var detail = apiError is MepApiException api ? $"{api.Status} {api.Message}" : apiError.Message;
                var prefix = rejected > 0 && rejected < tasks.Count ? $"{rejected} of {tasks.Count} tasks were not accepted: " : "";
                return context.Fail(prefix + detail);
            }

            if (timedOut)
            {
                var pending = rows.Count(r => r.State == "pending");
                context.Error.WriteLine($"mep: timed out after {waitText}: {pending} of {tasks.Count} tasks have not finished");
                return CliContext.ExitTasksFailed;
            }

            return rows.All(r => r.View is { } v && Succeeded(v)) ? CliContext.ExitOk : CliContext.ExitTasksFailed;
        }

        private static bool Succeeded(TaskView view) =>
            view.Status == Protocol.Api.TaskStatus.Success && view.Result?.ReturnCode is null or 0;

        private void WriteJsonLines(List<(Guid? Id, TaskView? View, string State)> rows)
        {
            foreach (var (id, view, state) in rows)
            {
                context.Out.WriteLine(view is not null
                    ? ProtocolJson.Serialize(view)
                    : new JsonObject { ["task_id"] = id?.ToString(), ["status"] = state }.ToJsonString());
            }
        }

        private void WriteTable(List<(Guid? Id, TaskView? View, string State)> rows)
        {
            var table = Views.Table("task", "status", "rc", "user", "output");
            foreach (var (id, view, state) in rows)
            {
                table.AddRow(Views.Cells(
                    id?.ToString() ?? "(not accepted)",
                    state,
                    view?.Result?.ReturnCode?.ToString(),
                    view?.Result?.Username,
                    Views.Summary(view?.Result)));
            }

            context.CreateConsole().Write(table);
        }
    }
}
