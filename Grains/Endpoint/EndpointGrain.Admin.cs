using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains.Endpoints;

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

    /// <summary>403 for anyone but the endpoint's admins, whether or not the policies would let them use it.</summary>
    private static void RequireAdmin(EndpointDefinition endpoint, CallerIdentity caller)
    {
        var decision = endpoint.Policy.Evaluate(caller, DateTimeOffset.UtcNow);
        if (!decision.Allowed || !decision.IsAdmin)
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
