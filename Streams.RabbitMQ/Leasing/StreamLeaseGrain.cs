namespace Mep.Streams.RabbitMQ.Leasing;

/// <summary>
/// Leases in memory, one activation per category. Nothing is stored: if the activation is lost with its silo,
/// the next one starts empty and takes each holder's renewal as proof of holding (a renewal of an unknown lease
/// re-creates it). The cost is a short window in which two silos may hold one partition; the partition queues
/// allow a single active consumer, so a stream's order survives that window.
/// </summary>
internal sealed class StreamLeaseGrain(TimeProvider clock) : Grain, IStreamLeaseGrain
{
    private readonly Dictionary<string, StreamLease> _leases = new(StringComparer.Ordinal);

    public Task<StreamLeaseResult[]> Acquire(StreamLeaseRequest[] requests)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var results = requests.Select(r =>
        {
            if (_leases.TryGetValue(r.ResourceKey, out var held) && !Expired(held, now))
            {
                return new StreamLeaseResult(r.ResourceKey, null);
            }
            var lease = new StreamLease(r.ResourceKey, Guid.NewGuid().ToString("N"), r.Duration, now);
            _leases[r.ResourceKey] = lease;
            return new StreamLeaseResult(r.ResourceKey, lease);
        }).ToArray();
        return Task.FromResult(results);
    }

    public Task<StreamLeaseResult[]> Renew(StreamLease[] leases)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var results = leases.Select(l =>
        {
            if (_leases.TryGetValue(l.ResourceKey, out var held) && held.Token != l.Token && !Expired(held, now))
            {
                return new StreamLeaseResult(l.ResourceKey, null);
            }
            var renewed = l with { StartedUtc = now };
            _leases[l.ResourceKey] = renewed;
            return new StreamLeaseResult(l.ResourceKey, renewed);
        }).ToArray();
        return Task.FromResult(results);
    }

    public Task Release(StreamLease[] leases)
    {
        foreach (var l in leases)
        {
            if (_leases.TryGetValue(l.ResourceKey, out var held) && held.Token == l.Token)
            {
                _leases.Remove(l.ResourceKey);
            }
        }
        return Task.CompletedTask;
    }

    private static bool Expired(StreamLease lease, DateTime now) => lease.StartedUtc + lease.Duration <= now;
}
