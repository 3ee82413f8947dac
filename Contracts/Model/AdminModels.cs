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

/// <summary>What an endpoint admin learns of one identity: how the endpoint's mapping treats it and its user endpoints.</summary>
/// <param name="LocalUsername">The account the mapping chose (null: none).</param>
/// <param name="Refusal">Why the identity cannot run tasks here (no mapping, or an account the node refuses); null when it can.</param>
/// <param name="DocumentFailures">Mapping documents that failed for it (an external program that crashed or timed out).</param>
[GenerateSerializer, Immutable, Alias("mep.admin-user")]
public sealed record AdministeredUser(
    [property: Id(0)] string IdentityUsername,
    [property: Id(1)] string IdentityId,
    [property: Id(2)] string? LocalUsername,
    [property: Id(3)] string? Refusal,
    [property: Id(4)] IReadOnlyList<MappingCandidateModel> Candidates,
    [property: Id(5)] IReadOnlyList<string> DocumentFailures,
    [property: Id(6)] IReadOnlyList<UserEndpointSnapshot> UserEndpoints);

/// <param name="Document">Index of the mapping document; <paramref name="Rule"/> of its rule (null: an external program).</param>
[GenerateSerializer, Immutable, Alias("mep.mapping-candidate")]
public sealed record MappingCandidateModel(
    [property: Id(0)] string IdentityId,
    [property: Id(1)] string Username,
    [property: Id(2)] int Document,
    [property: Id(3)] int? Rule);

/// <param name="Live">An active silo of that name is in the cluster.</param>
/// <param name="Drained">No new user endpoint process starts there.</param>
[GenerateSerializer, Immutable, Alias("mep.node-status")]
public sealed record NodeStatus(
    [property: Id(0)] string Node,
    [property: Id(1)] bool Live,
    [property: Id(2)] bool Drained);
