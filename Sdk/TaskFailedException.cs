using Mep.Protocol.Api;
using Mep.Protocol.Messages;

namespace Mep.Sdk;

/// <summary>
/// A task reached status <c>failed</c>. The Executor follows the status the server reports and nothing else:
/// which outcomes (no start, walltime, a non-zero return code) count as failed is the server's decision.
/// </summary>
public sealed class TaskFailedException : Exception
{
    public TaskFailedException(TaskView task)
        : base(MessageFor(task))
    {
        Task = task;
    }

    public Guid TaskId => Task.TaskId;

    public TaskView Task { get; }

    /// <summary>The result the endpoint reported; one with only an error when the task failed before it ran.</summary>
    public TaskResultView Result => Task.Result ?? new TaskResultView(
        ReturnCode: null, Stdout: "", Stderr: "", OutputTruncated: false,
        Error: "failed without a result", Hostname: null, Username: null, Uid: null);

    /// <summary>What a Python function raised (type, message, traceback); null when it raised nothing.</summary>
    public PythonException? PythonException => Task.Result?.Exception;

    private static string MessageFor(TaskView task)
    {
        var result = task.Result;
        if (result?.Exception is { } raised)
        {
            return $"task {task.TaskId} failed: {raised.Type}: {raised.Message}";
        }

        if (!string.IsNullOrWhiteSpace(result?.Error))
        {
            return $"task {task.TaskId} failed: {result.Error}";
        }

        return result?.ReturnCode is { } rc
            ? $"task {task.TaskId} failed with return code {rc}"
            : $"task {task.TaskId} failed";
    }
}
