using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains.Endpoints;

namespace Mep.Grains.Endpoint;

/// <summary>
/// Lifecycle requests on user endpoints: stopping one, and the limits on starting them (429 with Retry-After).
/// </summary>
public sealed partial class EndpointGrain
{
    private static readonly TimeSpan StartWindow = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan NodeBusyRetry = TimeSpan.FromSeconds(5);

    // Per local account: when its recent starts were admitted (the last minute's); in memory, as a rate needs no more.
    private readonly Dictionary<string, Queue<DateTimeOffset>> _starts = new(StringComparer.Ordinal);

    // User endpoints admitted but not yet in Active (their enqueue is under way): they count as live meanwhile.
    private readonly HashSet<string> _admitting = new(StringComparer.OrdinalIgnoreCase);

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

    /// <summary>
    /// A submission that will start <paramref name="uepId"/> (it has no live process and no queued work) must keep
    /// within the endpoint's limits: live UEPs per local account, starts per account per minute, and UEPs starting at
    /// once on the node. Work for a UEP that runs (or is about to) is never refused here.
    /// </summary>
    /// <exception cref="ProblemException">429, with when to try again.</exception>
    private async Task<Admission> AdmitAsync(EndpointDefinition endpoint, string username, string uepId)
    {
        var snapshot = await GrainFactory.GetGrain<IUserEndpointGrain>(uepId).GetSnapshot();
        var startsNew = snapshot.Phase is not (UserEndpointPhase.Starting or UserEndpointPhase.Running)
            && (snapshot.PendingTasks == 0 || snapshot.Phase == UserEndpointPhase.Failed);
        if (!startsNew)
        {
            return new Admission(this, null, null, null);
        }

        // From here to the reservation there is no await: concurrent submits cannot both take the last place.
        var limits = endpoint.Lifecycle;
        var now = DateTimeOffset.UtcNow;
        var live = state.State.Active.Union(_admitting, StringComparer.OrdinalIgnoreCase)
            .Count(id => !string.Equals(id, uepId, StringComparison.OrdinalIgnoreCase)
                && state.State.LocalUsers.TryGetValue(id, out var user) && user == username);
        if (live >= limits.MaxUserEndpointsPerUser)
        {
            throw ProblemException.TooManyRequests(
                $"local account {username} has {live} live user endpoints on endpoint {EndpointId}, the most it may have (max_user_endpoints_per_user): stop one, or wait until one goes idle",
                endpoint.IdleTimeout);
        }

        if (!_starts.TryGetValue(username, out var starts))
        {
            starts = new Queue<DateTimeOffset>();
            _starts[username] = starts;
        }

        while (starts.Count > 0 && now - starts.Peek() >= StartWindow)
        {
            starts.Dequeue();
        }

        if (starts.Count >= limits.MaxStartsPerMinute)
        {
            throw ProblemException.TooManyRequests(
                $"local account {username} has started {starts.Count} user endpoints on endpoint {EndpointId} within the last minute, the most it may (max_starts_per_minute)",
                starts.Peek() + StartWindow - now);
        }

        // The node is chosen at launch; refuse only when even the least busy live node has no start slot free.
        var starting = nodeChooser.LiveNodes().Select(node => startGate.Starting(node, except: uepId)).DefaultIfEmpty(0).Min();
        if (starting >= limits.MaxConcurrentStarts)
        {
            throw ProblemException.TooManyRequests(
                $"the node is starting {starting} user endpoints at once, the most it may (max_concurrent_starts)", NodeBusyRetry);
        }

        starts.Enqueue(now);
        _admitting.Add(uepId);
        return new Admission(this, username, uepId, now);
    }

    /// <summary>An admitted start: the reservation ends with the enqueue; the start counts only if the enqueue worked.</summary>
    private sealed class Admission(EndpointGrain grain, string? username, string? uepId, DateTimeOffset? at)
    {
        public void Release(bool enqueued)
        {
            if (uepId is null)
            {
                return;
            }

            grain._admitting.Remove(uepId);
            if (!enqueued && grain._starts.TryGetValue(username!, out var starts))
            {
                grain._starts[username!] = new Queue<DateTimeOffset>(starts.Where(t => t != at));
            }
        }
    }
}
