using System.Collections.Concurrent;
using System.Diagnostics;

namespace Mep.Bench;

/// <summary>
/// Counts deliveries of the round being measured, per stream, and notes when the last expected event arrived. The
/// raw consumers and the provider's subscriber grains both record here, so both paths do the same work per event.
/// An event is counted once; a repeat is a duplicate; one that does not follow its stream's highest so far is out
/// of order (it is still counted).
/// </summary>
public sealed class DeliveryCounter
{
    private readonly ConcurrentDictionary<string, StreamProgress> _streams = new(StringComparer.Ordinal);
    private int _round = -1;
    private long _expected;
    private long _unique;
    private long _duplicates;
    private long _outOfOrder;
    private long _stale;
    private long _lastTimestamp;
    private TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class StreamProgress
    {
        public int Round = -1;
        public int Highest = -1;
        public readonly HashSet<int> Seen = [];
    }

    public long Unique => Interlocked.Read(ref _unique);
    public long Duplicates => Interlocked.Read(ref _duplicates);
    public long OutOfOrder => Interlocked.Read(ref _outOfOrder);
    public long Stale => Interlocked.Read(ref _stale);
    /// <summary><see cref="Stopwatch"/> timestamp of the event that completed the round.</summary>
    public long CompletedAt => Interlocked.Read(ref _lastTimestamp);
    public Task Done => _done.Task;

    /// <summary>Starts counting <paramref name="round"/>; call before its first publish.</summary>
    public void Begin(int round, long expected)
    {
        _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Exchange(ref _expected, expected);
        Interlocked.Exchange(ref _unique, 0);
        Interlocked.Exchange(ref _duplicates, 0);
        Interlocked.Exchange(ref _outOfOrder, 0);
        Interlocked.Exchange(ref _stale, 0);
        Interlocked.Exchange(ref _lastTimestamp, 0);
        Volatile.Write(ref _round, round);
    }

    public void Record(string stream, int round, int sequence)
    {
        if (round != Volatile.Read(ref _round))
        {
            Interlocked.Increment(ref _stale);
            return;
        }
        var progress = _streams.GetOrAdd(stream, _ => new StreamProgress());
        lock (progress)
        {
            if (progress.Round != round)
            {
                progress.Round = round;
                progress.Highest = -1;
                progress.Seen.Clear();
            }
            if (!progress.Seen.Add(sequence))
            {
                Interlocked.Increment(ref _duplicates);
                return;
            }
            if (sequence != progress.Highest + 1)
            {
                Interlocked.Increment(ref _outOfOrder);
            }
            progress.Highest = Math.Max(progress.Highest, sequence);
        }
        if (Interlocked.Increment(ref _unique) == Interlocked.Read(ref _expected))
        {
            Interlocked.Exchange(ref _lastTimestamp, Stopwatch.GetTimestamp());
            _done.TrySetResult();
        }
    }
}
