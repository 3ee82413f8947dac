namespace Mep.Contracts.Model;

/// <summary>Which user endpoints an endpoint admin asks for; null fields do not filter.</summary>
/// <param name="User">A local account name or the owner's identity id, compared ignoring case.</param>
[GenerateSerializer, Immutable, Alias("mep.admin-uep-query")]
public sealed record UserEndpointQuery(
    [property: Id(0)] string? User = null,
    [property: Id(1)] UserEndpointPhase? Phase = null,
    [property: Id(2)] string? Node = null);

/// <summary>One user endpoint as its endpoint's admins see it: whose it is, and its state.</summary>
[GenerateSerializer, Immutable, Alias("mep.admin-uep")]
public sealed record AdministeredUserEndpoint(
    [property: Id(0)] string IdentityId,
    [property: Id(1)] UserEndpointSnapshot Snapshot);
