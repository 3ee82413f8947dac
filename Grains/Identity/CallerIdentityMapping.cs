using Mep.Contracts.Model;
using Mep.Identity;

namespace Mep.Grains.Identity;

public static class CallerIdentityMapping
{
    public static MappingIdentity ToMappingIdentity(this LinkedIdentity identity) => new(identity.Fields);

    /// <summary>The caller's identity set as mapping rules see it.</summary>
    public static IReadOnlyList<MappingIdentity> ToMappingIdentities(this CallerIdentity caller) =>
        caller.IdentitySet().Select(ToMappingIdentity).ToList();

    /// <summary>The local username for the caller, or null when no rule maps it.</summary>
    public static string? Map(this IdentityMapper mapper, CallerIdentity identity) => mapper.Map(identity.ToMappingIdentities()).Username;
}
