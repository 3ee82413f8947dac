namespace Mep.Endpoint.Worker;

/// <summary>
/// The deliveries that carry several tasks (<see cref="Mep.Protocol.Messages.BrokerNames.TaskBundleType"/>). Each task
/// of a bundle gets a part tag of its own, so the rest of the worker settles tasks as it always did; the broker's
/// delivery is settled once every part is: acked when all were, handed back when any was. A bundle handed back comes
/// back whole, so its finished tasks run again (the silo keeps the first result of each), which beats losing the others.
/// </summary>
internal sealed class TaskBundles
{
    // Part tags live above every tag the broker hands out (a channel's count, from 1), so the two never meet.
    private const ulong PartTagBase = 1UL << 62;

    private sealed class Bundle(ulong deliveryTag, int parts)
    {
        public readonly ulong DeliveryTag = deliveryTag;
        public int Unsettled = parts;
        public bool HandedBack;
    }

    private readonly Lock _gate = new();
    private readonly Dictionary<ulong, Bundle> _parts = [];
    private ulong _nextPart = PartTagBase;

    public static bool IsPart(ulong tag) => tag >= PartTagBase;

    /// <summary>Part tags for the <paramref name="parts"/> tasks of delivery <paramref name="deliveryTag"/>, in order.</summary>
    public ulong[] Split(ulong deliveryTag, int parts)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(parts, 1);
        var bundle = new Bundle(deliveryTag, parts);
        var tags = new ulong[parts];
        lock (_gate)
        {
            for (var i = 0; i < parts; i++)
            {
                tags[i] = ++_nextPart;
                _parts.Add(tags[i], bundle);
            }
        }

        return tags;
    }

    /// <summary>
    /// Settles one part; returns the broker's delivery tag and whether to ack it once the last part of its bundle is
    /// settled, null before. A part settled twice, or unknown, counts once.
    /// </summary>
    public (ulong DeliveryTag, bool Ack)? Settle(ulong partTag, bool ack)
    {
        lock (_gate)
        {
            if (!_parts.Remove(partTag, out var bundle))
            {
                return null;
            }

            bundle.HandedBack |= !ack;
            return --bundle.Unsettled == 0 ? (bundle.DeliveryTag, !bundle.HandedBack) : null;
        }
    }

    /// <summary>Parts not settled yet (what the tests check).</summary>
    public int Open
    {
        get
        {
            lock (_gate)
            {
                return _parts.Count;
            }
        }
    }
}
