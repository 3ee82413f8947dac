using Mep.Contracts.Model;
using Mep.Identity;

namespace Mep.Grains.Identity;

public static class CallerIdentityMapping
{
    /// <summary>The caller as the one identity of its set (status <c>used</c>: it signed in with it).</summary>
    public static MappingIdentity ToMappingIdentity(this CallerIdentity identity) => new(new Dictionary<string, string?>
    {
        ["id"] = identity.IdentityId,
        ["username"] = identity.Username,
        ["identity_provider"] = identity.IdentityProvider,
        ["name"] = identity.Name,
        ["email"] = identity.Email,
        ["status"] = "used",
    });

    /// <summary>The local username for the caller, or null when no rule maps it.</summary>
    public static string? Map(this IdentityMapper mapper, CallerIdentity identity) => mapper.Map(identity.ToMappingIdentity());
}
