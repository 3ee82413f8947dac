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
    [property: Id(4)] string? Email)
{
    /// <summary>
    /// The identities linked to the caller's account, from the token's identity-set claim (the caller's own among
    /// them). Empty when the token has no such claim: the caller's own identity is then the whole set.
    /// </summary>
    [Id(5)]
    public IReadOnlyList<LinkedIdentity> LinkedIdentities { get; init; } = [];

    /// <summary>When the caller last authenticated at the identity provider (the token's <c>auth_time</c>), if stated.</summary>
    [Id(6)]
    public DateTimeOffset? AuthTime { get; init; }

    /// <summary>The identity set that policies and mapping rules see, in the token's order.</summary>
    public IReadOnlyList<LinkedIdentity> IdentitySet() => LinkedIdentities.Count > 0
        ? LinkedIdentities
        : [LinkedIdentity.Of(IdentityId, Username, IdentityProvider, Name, Email, LinkedIdentity.Used)];
}

/// <summary>
/// One identity of a caller's identity set, as named fields (<c>id</c>, <c>username</c>, <c>identity_provider</c>,
/// <c>name</c>, <c>email</c>, <c>organization</c>, <c>status</c> or any other the provider sends): mapping rules may
/// use any of them.
/// </summary>
[GenerateSerializer, Immutable, Alias("mep.linked-identity")]
public sealed record LinkedIdentity([property: Id(0)] IReadOnlyDictionary<string, string?> Fields)
{
    /// <summary>Status of an identity the caller signed in with (GCS's <c>used</c>).</summary>
    public const string Used = "used";

    public string Id => Fields.GetValueOrDefault("id") ?? "";

    public string Username => Fields.GetValueOrDefault("username") ?? "";

    public string? Status => Fields.GetValueOrDefault("status");

    // The default comparer is ordinal already; a custom one would need a serializer codec of its own.
    public static LinkedIdentity Of(string id, string username, string? identityProvider, string? name, string? email, string? status) =>
        new(new Dictionary<string, string?>
        {
            ["id"] = id,
            ["username"] = username,
            ["identity_provider"] = identityProvider,
            ["name"] = name,
            ["email"] = email,
            ["status"] = status,
        });
}
