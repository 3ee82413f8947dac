namespace Mep.Contracts.Model;

/// <summary>The authenticated caller, as the API read it from a validated bearer token.</summary>
/// <param name="IdentityId">Stable identity id (a UUID string): what UEP ids and task ownership are keyed on.</param>
/// <param name="Username">Federated username, e.g. <c>alice@example.org</c>.</param>
[GenerateSerializer, Immutable, Alias("mep.caller-identity")]
public sealed record CallerIdentity(
    [property: Id(0)] string IdentityId,
    [property: Id(1)] string Username,
    [property: Id(2)] string IdentityProvider,
    [property: Id(3)] string? Name,
    [property: Id(4)] string? Email);
