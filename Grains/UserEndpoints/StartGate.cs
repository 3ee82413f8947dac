namespace Mep.Grains.UserEndpoints;

/// <summary>
/// User endpoints starting at once on each login node (keyed by node name), counted in this silo: from the launch
/// until the UEP reports in, exits or fails. A UEP that never reports holds its slot for <see cref="SlotLifetime"/>
/// at most, so a lost release cannot close the gate for good.
/// </summary>
public sealed class StartGate
{
    public static readonly TimeSpan SlotLifetime = TimeSpan.FromMinutes(1);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, (string Node, DateTimeOffset Since)> _slots = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Takes a slot for <paramref name="uepId"/> on <paramref name="node"/> (or keeps the one it has).</summary>
    /// <returns>False when <paramref name="limit"/> others are starting there now.</returns>
    public bool TryEnter(string node, string uepId, int limit)
    {
        lock (_lock)
        {
            if (_slots.ContainsKey(uepId))
            {
                return true;
            }

            if (CountLocked(node, uepId) >= limit)
            {
                return false;
            }

            _slots[uepId] = (node, DateTimeOffset.UtcNow);
            return true;
        }
    }

    /// <summary>How many UEPs other than <paramref name="except"/> are starting on <paramref name="node"/>.</summary>
    public int Starting(string node, string? except = null)
    {
        lock (_lock)
        {
            return CountLocked(node, except);
        }
    }

    public void Leave(string uepId)
    {
        lock (_lock)
        {
            _slots.Remove(uepId);
        }
    }

    private int CountLocked(string node, string? except)
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var stale in _slots.Where(s => now - s.Value.Since >= SlotLifetime).Select(s => s.Key).ToList())
        {
            _slots.Remove(stale);
        }

        return _slots.Count(s => s.Value.Node == node && !string.Equals(s.Key, except, StringComparison.OrdinalIgnoreCase));
    }
}
