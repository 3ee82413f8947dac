using Mep.Protocol.Api;

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

    private static string MessageFor(TaskView task)
    {
        var result = task.Result;
        if (!string.IsNullOrWhiteSpace(result?.Error))
        {
            return $"task {task.TaskId} failed: {result.Error}";
        }

        return result?.ReturnCode is { } rc
            ? $"task {task.TaskId} failed with return code {rc}"
            : $"task {task.TaskId} failed";
    }
}
