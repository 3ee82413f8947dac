using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains.Endpoints;
using Mep.Grains.Identity;
using Mep.Identity;

namespace Mep.Grains.Endpoint;

/// <summary>What only an endpoint's admins may ask: every user's user endpoints.</summary>
public sealed partial class EndpointGrain
{
    public Task<IReadOnlyList<AdministeredUserEndpoint>> ListUserEndpoints(CallerIdentity caller, UserEndpointQuery query) =>
        Audited("admin-list", caller, async facts =>
        {
            RequireAdmin(Endpoint(), caller);
            var owned = state.State.UserEndpoints
                .SelectMany(kv => kv.Value.Select(uepId => (IdentityId: kv.Key, UepId: uepId)))
                .ToList();
            var snapshots = await Task.WhenAll(owned.Select(o => GrainFactory.GetGrain<IUserEndpointGrain>(o.UepId).GetSnapshot()));
            IReadOnlyList<AdministeredUserEndpoint> matching = owned
                .Zip(snapshots, (o, s) => new AdministeredUserEndpoint(o.IdentityId, s))
                .Where(u => Matches(u, query))
                .OrderByDescending(u => u.Snapshot.LastTaskAt ?? DateTimeOffset.MinValue)
                .ThenBy(u => u.Snapshot.UserEndpointId, StringComparer.Ordinal)
                .ToList();
            return matching;
        });

    public Task<AdministeredUser> ExplainUser(CallerIdentity caller, string identityUsername) =>
        Audited("admin-user", caller, async facts =>
        {
            var endpoint = Endpoint();
            RequireAdmin(endpoint, caller);
            var identityId = Mep.Protocol.Auth.MepClaims.IdentityIdFor(identityUsername).ToString();
            var identity = LinkedIdentity.Of(identityId, identityUsername, null, null, null, LinkedIdentity.Used);

            // The mapping alone, for this one identity: the endpoint's policies judge a caller's token, which an admin
            // does not have; the caller's other linked identities are not known here either.
            var mapping = await endpoint.IdentityMapper.MapAsync([identity], endpoint.EndpointId, logger);
            string? refusal = null;
            if (mapping.Username is null)
            {
                refusal = $"identity {identityUsername} does not map to a local account on endpoint {endpoint.EndpointId}";
            }
            else if (LocalAccounts.Resolve(mapping.Username, Environment.UserName) is { Refusal: { } refused })
            {
                refusal = $"identity {identityUsername} maps to {refused}";
            }

            facts.LocalUser = mapping.Username;
            var mine = state.State.UserEndpoints.TryGetValue(identityId, out var ids) ? ids.Order(StringComparer.Ordinal).ToList() : [];
            var snapshots = await Task.WhenAll(mine.Select(id => GrainFactory.GetGrain<IUserEndpointGrain>(id).GetSnapshot()));
            return new AdministeredUser(
                identityUsername,
                identityId,
                mapping.Username,
                refusal,
                mapping.Candidates.Select(c => new MappingCandidateModel(c.IdentityId, c.Username, c.Document, c.Rule)).ToList(),
                mapping.Failures.Select(f => $"document[{f.Document}]: {f.Reason}").ToList(),
                snapshots);
        });

    /// <summary>403 for anyone but the endpoint's admins, whether or not the policies would let them use it.</summary>
    private static void RequireAdmin(EndpointDefinition endpoint, CallerIdentity caller)
    {
        if (!endpoint.Policy.IsAdmin(caller, DateTimeOffset.UtcNow))
        {
            throw ProblemException.Forbidden($"{caller.Username} is not an admin of endpoint {endpoint.EndpointId} (config.yaml admins)");
        }
    }

    private static bool Matches(AdministeredUserEndpoint u, UserEndpointQuery query) =>
        (query.Phase is not { } phase || u.Snapshot.Phase == phase)
        && (query.Node is not { } node || string.Equals(u.Snapshot.Node, node, StringComparison.OrdinalIgnoreCase))
        && (query.User is not { } user
            || string.Equals(u.Snapshot.Spec?.LocalUsername, user, StringComparison.OrdinalIgnoreCase)
            || string.Equals(u.IdentityId, user, StringComparison.OrdinalIgnoreCase));
}
