using Mep.Endpoint.Python;
using Mep.Protocol.Messages;

namespace Mep.Endpoint.Worker;

/// <summary>One of a worker's <see cref="WorkerDocument.MaxTasks"/> places to run a task, with its own python3 for Python functions.</summary>
internal sealed class TaskSlot(int index, PythonRunner python) : IDisposable
{
    public int Index { get; } = index;

    public PythonRunner Python { get; } = python;

    public void Dispose() => Python.Dispose();
}

/// <summary>Runs one task in a slot, by kind, and holds the result to the admin's limits.</summary>
internal sealed class TaskExecutor(WorkerDocument doc, ShellRunner shell)
{
    private readonly HashSet<Guid>? _allowed = doc.AllowedFunctions?.ToHashSet();

    /// <summary>Why the task may not run here (the endpoint's allow-list, checked again in the worker); null if it may.</summary>
    public string? Refusal(TaskMessage task) =>
        _allowed is not null && !_allowed.Contains(task.FunctionId) ? $"function {task.FunctionId} is not allowed on this endpoint" : null;

    /// <summary>A failure of the task is a result; cancelling <paramref name="shutdown"/> throws <see cref="OperationCanceledException"/>.</summary>
    public async Task<TaskResultMessage> RunAsync(TaskMessage task, TaskSlot slot, CancellationToken shutdown)
    {
        if (task.Kind == FunctionKind.Shell || !slot.Python.IsRunning)
        {
            // A process is about to be started (milliseconds of fork and exec): off the caller's thread, which may be
            // the broker client's dispatch loop, so that a burst of deliveries starts its processes side by side.
            await Task.Yield();
        }

        var result = task.Kind switch
        {
            FunctionKind.Shell => await shell.RunAsync(task, shutdown).ConfigureAwait(false),
            FunctionKind.Python => await slot.Python.RunAsync(task, doc.Limits.ResultSizeLimitBytes, shutdown).ConfigureAwait(false),
            _ => shell.Failure(task.TaskId, $"function kind '{task.Kind}' is not supported by this endpoint"),
        };
        return OutputLimits.Apply(result, doc.Limits);
    }
}
