using Mep.Protocol.Messages;

namespace Mep.Endpoint.Worker;

/// <summary>
/// Sends a worker's results, several to a message when tasks end faster than the broker confirms: one publish is in
/// flight at a time, and the results that end while it waits for its confirm go out together in the next one. A result
/// that finds nothing in flight is published at once, on its own, so a lone task's latency gains no wait. Under load
/// the broker, the silo's stream and its task store handle one message (one event, one commit) per batch instead of per
/// task (issue 9's throughput experiment).
/// </summary>
/// <param name="publish">Publishes one batch and returns once the broker confirmed it; throws if it did not.</param>
internal sealed class ResultBatcher(Func<IReadOnlyList<TaskResultMessage>, Task> publish, int maxResults = ResultBatcher.DefaultMaxResults,
    long maxBytes = ResultBatcher.DefaultMaxBytes)
{
    public const int DefaultMaxResults = 128;

    /// <summary>Far below the broker's message size limit (16 MiB by default): a batch must never be refused for its size.</summary>
    public const long DefaultMaxBytes = 1 << 20;

    private readonly Lock _gate = new();
    private readonly Queue<Pending> _waiting = new();
    private bool _sending;

    /// <summary>Completes when the broker has confirmed the message carrying <paramref name="result"/>; faults with
    /// the publish's error otherwise (every result of that message gets it).</summary>
    public Task SendAsync(TaskResultMessage result)
    {
        var pending = new Pending(result, EstimatedBytes(result));
        lock (_gate)
        {
            _waiting.Enqueue(pending);
            if (_sending)
            {
                return pending.Done.Task;
            }

            _sending = true;
        }

        _ = SendWaitingAsync();
        return pending.Done.Task;
    }

    private async Task SendWaitingAsync()
    {
        while (true)
        {
            var batch = new List<Pending>();
            lock (_gate)
            {
                long bytes = 0;
                // At least one, however large: a result alone is as big as it was before batching.
                while (_waiting.TryPeek(out var next) && batch.Count < maxResults && (batch.Count == 0 || bytes + next.Bytes <= maxBytes))
                {
                    batch.Add(_waiting.Dequeue());
                    bytes += next.Bytes;
                }

                if (batch.Count == 0)
                {
                    _sending = false;
                    return;
                }
            }

            try
            {
                await publish([.. batch.Select(p => p.Result)]).ConfigureAwait(false);
                foreach (var p in batch)
                {
                    p.Done.TrySetResult();
                }
            }
            catch (Exception e)
            {
                foreach (var p in batch)
                {
                    p.Done.TrySetException(e);
                }
            }
        }
    }

    /// <summary>An upper bound of the result's JSON size: its free-text fields at their worst (a character escaped as
    /// <c>\uXXXX</c> is six bytes), plus its fixed fields.</summary>
    internal static long EstimatedBytes(TaskResultMessage r) =>
        1024L + 6L * (r.Stdout.Length + r.Stderr.Length + (r.ReturnValue?.Length ?? 0) + (r.Error?.Length ?? 0)
                      + (r.Exception is { } e ? e.Type.Length + e.Message.Length + e.Traceback.Length : 0));

    // Continuations run inline when a batch is confirmed: the handler then acks its delivery at once, as it did when it
    // awaited its own publish, and results ending meanwhile wait for the next batch.
    private sealed record Pending(TaskResultMessage Result, long Bytes)
    {
        public TaskCompletionSource Done { get; } = new();
    }
}
