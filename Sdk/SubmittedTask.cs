using Mep.Protocol.Api;

namespace Mep.Sdk;

/// <summary>
/// One submission to an <see cref="Executor"/>, observable at both of its steps: the API accepting it
/// (<see cref="Accepted"/>, which yields the task id) and the task finishing (<see cref="Completion"/>, <see cref="Result"/>).
/// </summary>
public sealed class SubmittedTask
{
    private readonly TaskCompletionSource<Guid> accepted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<TaskView> completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lazy<Task<TaskResultView>> result;

    internal SubmittedTask(TaskSubmission submission)
    {
        Submission = submission;
        result = new Lazy<Task<TaskResultView>>(() => ResultOf(completion.Task));
    }

    public TaskSubmission Submission { get; }

    /// <summary>Completes with the task id when the batch holding this submission is accepted; faults with the
    /// <see cref="MepApiException"/> (or transport error) that rejected the batch.</summary>
    public Task<Guid> Accepted => accepted.Task;

    /// <summary>The task id, once accepted.</summary>
    public Guid? TaskId => accepted.Task.IsCompletedSuccessfully ? accepted.Task.Result : null;

    /// <summary>The final view of the task, whatever its status (success or failed). Faults like <see cref="Accepted"/>
    /// when the batch was rejected, with <see cref="MepApiException"/> 404 when the server no longer knows the task,
    /// and is cancelled when the executor is shut down without waiting.</summary>
    public Task<TaskView> Completion => completion.Task;

    /// <summary>The result of a successful task; faults with <see cref="TaskFailedException"/> when the task failed.</summary>
    public Task<TaskResultView> Result => result.Value;

    internal void SetAccepted(Guid taskId) => accepted.TrySetResult(taskId);

    internal void SetCompleted(TaskView view) => completion.TrySetResult(view);

    internal void SetFault(Exception error)
    {
        accepted.TrySetException(error);
        completion.TrySetException(error);
    }

    internal void SetCanceled()
    {
        accepted.TrySetCanceled();
        completion.TrySetCanceled();
    }

    private static async Task<TaskResultView> ResultOf(Task<TaskView> completion)
    {
        var view = await completion.ConfigureAwait(false);
        if (view.Status == Protocol.Api.TaskStatus.Failed)
        {
            throw new TaskFailedException(view);
        }

        return view.Result ?? throw new InvalidDataException($"task {view.TaskId} succeeded but the server sent no result");
    }
}
