namespace Mep.Database.Tasks;

/// <summary>
/// The task table of one service (cluster): every accepted task, the queue of each user endpoint (the tasks without an
/// end) and each task's end. One implementation per database; writes come batched through <see cref="TaskWriteBatcher"/>.
/// </summary>
public interface ITaskTable
{
    /// <summary>
    /// Applies the rows in one transaction, durable when the task completes: first the new tasks (an id already stored
    /// is left as it is), then the progress of tasks still queued (ended ones are left as they are), then the ends
    /// (recorded only for a task without one). Ids are distinct within each list.
    /// </summary>
    /// <returns>For each completion, in order: true when this write recorded it.</returns>
    Task<bool[]> WriteAsync(
        IReadOnlyList<NewTaskRow> added,
        IReadOnlyList<TaskProgressRow> progress,
        IReadOnlyList<TaskCompletionRow> completed,
        CancellationToken cancellationToken);

    /// <summary>The user endpoint's queue: its tasks without an end, in the order they were accepted.</summary>
    Task<IReadOnlyList<QueuedTaskRow>> ReadQueueAsync(string userEndpointId, CancellationToken cancellationToken);

    /// <summary>The tasks of these ids that exist (in no particular order); the caller checks who owns them.</summary>
    Task<IReadOnlyList<StoredTaskRow>> ReadAsync(IReadOnlyCollection<Guid> taskIds, CancellationToken cancellationToken);
}
