namespace Mep.Sdk;

/// <summary>Tuning for <see cref="Executor"/>. The defaults suit interactive use and batches of thousands.</summary>
public sealed record ExecutorOptions
{
    /// <summary>
    /// How long the first submission of a batch waits for company before the batch is sent. Zero (the default) sends
    /// at once; submissions made while a request is on its way still go together, in the next request.
    /// </summary>
    public TimeSpan BatchWindow { get; init; } = TimeSpan.Zero;

    /// <summary>A batch is sent as soon as it holds this many tasks.</summary>
    public int MaxBatchSize { get; init; } = 256;

    /// <summary>First pause between status rounds, and the pause after a round in which something completed.</summary>
    public TimeSpan MinPollInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The pause doubles after each round in which nothing completed, up to this.</summary>
    public TimeSpan MaxPollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long the server may hold a status request until one of the tasks finishes (a long poll), when all outstanding
    /// tasks fit in one request; results then arrive as they are recorded instead of at the next poll. Zero: plain polls.
    /// </summary>
    public TimeSpan LongPollWait { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Task ids per <c>POST /v1/tasks/status</c> request; more outstanding tasks take several requests a round.</summary>
    public int MaxStatusBatch { get; init; } = 500;

    internal void Validate()
    {
        if (BatchWindow < TimeSpan.Zero || MaxBatchSize < 1 || MinPollInterval <= TimeSpan.Zero
            || MaxPollInterval < MinPollInterval || MaxStatusBatch < 1 || LongPollWait < TimeSpan.Zero || LongPollWait > TimeSpan.FromSeconds(30))
        {
            throw new ArgumentException($"invalid executor options: {this}");
        }
    }
}
