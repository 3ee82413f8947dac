using Orleans.LeaseProviders;

namespace Mep.Streams.RabbitMQ.Leasing;

/// <summary>
/// The lease provider behind the provider's lease-based queue balancer: a grain per lease category holds the
/// table, so no store outside the cluster is needed (Orleans ships only a development lease provider and an Azure one).
/// </summary>
public sealed class GrainLeaseProvider(IGrainFactory grains) : ILeaseProvider
{
    public async Task<AcquireLeaseResult[]> Acquire(string category, LeaseRequest[] leaseRequests)
    {
        var results = await Table(category).Acquire(leaseRequests.Select(r => new StreamLeaseRequest(r.ResourceKey, r.Duration)).ToArray());
        return results.Select(r => Convert(r, ResponseCode.LeaseNotAvailable)).ToArray();
    }

    public async Task<AcquireLeaseResult[]> Renew(string category, AcquiredLease[] acquiredLeases)
    {
        var results = await Table(category).Renew(acquiredLeases.Select(ToLease).ToArray());
        return results.Select(r => Convert(r, ResponseCode.InvalidToken)).ToArray();
    }

    public Task Release(string category, AcquiredLease[] acquiredLeases) =>
        Table(category).Release(acquiredLeases.Select(ToLease).ToArray());

    private IStreamLeaseGrain Table(string category) => grains.GetGrain<IStreamLeaseGrain>(category);

    private static StreamLease ToLease(AcquiredLease l) => new(l.ResourceKey, l.Token ?? "", l.Duration, l.StartTimeUtc);

    private static AcquireLeaseResult Convert(StreamLeaseResult r, ResponseCode whenRefused) => r.Lease is { } l
        ? new AcquireLeaseResult(new AcquiredLease(l.ResourceKey, l.Duration, l.Token, l.StartedUtc), ResponseCode.OK, null)
        : new AcquireLeaseResult(new AcquiredLease(r.ResourceKey), whenRefused, null);
}
