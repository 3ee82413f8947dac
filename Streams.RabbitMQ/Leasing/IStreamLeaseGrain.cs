namespace Mep.Streams.RabbitMQ.Leasing;

[GenerateSerializer, Immutable, Alias("mep.streams.lease-request")]
public sealed record StreamLeaseRequest([property: Id(0)] string ResourceKey, [property: Id(1)] TimeSpan Duration);

[GenerateSerializer, Immutable, Alias("mep.streams.lease")]
public sealed record StreamLease(
    [property: Id(0)] string ResourceKey,
    [property: Id(1)] string Token,
    [property: Id(2)] TimeSpan Duration,
    [property: Id(3)] DateTime StartedUtc);

/// <summary>Null <see cref="Lease"/>: held by someone else (acquire) or lost to someone else (renew).</summary>
[GenerateSerializer, Immutable, Alias("mep.streams.lease-result")]
public sealed record StreamLeaseResult([property: Id(0)] string ResourceKey, [property: Id(1)] StreamLease? Lease);

/// <summary>The lease table of one lease category (one per cluster, keyed by category).</summary>
[Alias("mep.streams.lease-table")]
public interface IStreamLeaseGrain : IGrainWithStringKey
{
    [Alias("acquire")]
    Task<StreamLeaseResult[]> Acquire(StreamLeaseRequest[] requests);

    [Alias("renew")]
    Task<StreamLeaseResult[]> Renew(StreamLease[] leases);

    [Alias("release")]
    Task Release(StreamLease[] leases);
}
