namespace Mep.Sdk;

/// <summary>Tuning for <see cref="Executor"/>. The defaults suit interactive use and batches of thousands.</summary>
public sealed record ExecutorOptions
{
    /// <summary>How long the first submission of a batch waits for company before the batch is sent.</summary>
    public TimeSpan BatchWindow { get; init; } = TimeSpan.FromMilliseconds(25);

    /// <summary>A batch is sent as soon as it holds this many tasks.</summary>
    public int MaxBatchSize { get; init; } = 256;

    /// <summary>First pause between status rounds, and the pause after a round in which something completed.</summary>
    public TimeSpan MinPollInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The pause doubles after each round in which nothing completed, up to this.</summary>
    public TimeSpan MaxPollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Task ids per <c>POST /v1/tasks/status</c> request; more outstanding tasks take several requests a round.</summary>
    public int MaxStatusBatch { get; init; } = 500;

    internal void Validate()
    {
        if (BatchWindow < TimeSpan.Zero || MaxBatchSize < 1 || MinPollInterval <= TimeSpan.Zero
            || MaxPollInterval < MinPollInterval || MaxStatusBatch < 1)
        {
            throw new ArgumentException($"invalid executor options: {this}");
        }
    }
}
