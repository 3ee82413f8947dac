using Mep.Contracts;
using Mep.Contracts.Model;

namespace Mep.Grains.Endpoint;

/// <summary>Lifecycle requests on user endpoints: stopping one.</summary>
public sealed partial class EndpointGrain
{
    public Task<UserEndpointSnapshot> StopUserEndpoint(CallerIdentity caller, string userEndpointId) =>
        Audited("stop", caller, async facts =>
        {
            facts.UserEndpointId = userEndpointId;
            var endpoint = Endpoint();
            var decision = endpoint.Policy.Evaluate(caller, DateTimeOffset.UtcNow);
            if (!decision.Allowed)
            {
                throw ProblemException.Forbidden(decision.Refusal!);
            }

            var owned = state.State.UserEndpoints.TryGetValue(caller.IdentityId, out var mine) && mine.Contains(userEndpointId);
            var administered = !owned && decision.IsAdmin && state.State.UserEndpoints.Values.Any(ueps => ueps.Contains(userEndpointId));
            if (!owned && !administered)
            {
                // Someone else's user endpoint reads exactly like one that never existed.
                throw UserEndpointNotFound(userEndpointId);
            }

            var requestedBy = administered ? $"endpoint admin {caller.Username}" : caller.Username;
            var snapshot = await GrainFactory.GetGrain<IUserEndpointGrain>(userEndpointId).Stop(requestedBy);
            facts.LocalUser = snapshot.Spec?.LocalUsername;
            return snapshot;
        });

    /// <summary>The one answer for a user endpoint the caller may not act on, whether or not it exists.</summary>
    public static ProblemException UserEndpointNotFound(string userEndpointId) =>
        ProblemException.NotFound($"user endpoint {userEndpointId} not found");
}
