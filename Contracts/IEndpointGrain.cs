using Orleans.Concurrency;
using Mep.Contracts.Model;

namespace Mep.Contracts;

/// <summary>
/// The multi-user endpoint (MEP), keyed by endpoint id: authorises callers, maps their identity to a local account,
/// validates and renders their user endpoint config, and routes tasks to the user endpoint that config selects.
/// </summary>
[Alias("mep.endpoint")]
public interface IEndpointGrain : IGrainWithStringKey
{
    /// <summary>Accepts a batch of tasks; returns only once every task is durable. Throws <see cref="ProblemException"/>.</summary>
    [Alias("submit")]
    Task<SubmitReceipt> Submit(CallerIdentity caller, SubmitBatch batch);

    /// <summary>The endpoint as this caller may see it: only the caller's own user endpoints.</summary>
    [Alias("describe"), AlwaysInterleave]
    Task<EndpointDescription> Describe(CallerIdentity caller);

    /// <summary>
    /// Stops one user endpoint: its owner's, or any for an endpoint admin (<c>admins</c>). Anyone else hears that it
    /// does not exist (404), exactly as for an id that was never used. Audited as <c>stop</c>.
    /// </summary>
    [Alias("stop-user-endpoint")]
    Task<UserEndpointSnapshot> StopUserEndpoint(CallerIdentity caller, string userEndpointId);

    /// <summary>
    /// Every user endpoint of the endpoint, whoever owns it, matching <paramref name="query"/>: for the endpoint's
    /// admins (<c>admins</c>) only; anyone else gets 403. Audited as <c>admin-list</c>.
    /// </summary>
    [Alias("admin-list-user-endpoints"), AlwaysInterleave]
    Task<IReadOnlyList<AdministeredUserEndpoint>> ListUserEndpoints(CallerIdentity caller, UserEndpointQuery query);

    /// <summary>
    /// How the endpoint's identity mapping treats <paramref name="identityUsername"/> (the account it chose, by which
    /// rule, or why none) and that identity's user endpoints with their states and failures: for the endpoint's admins
    /// only; anyone else gets 403. Audited as <c>admin-user</c>.
    /// </summary>
    [Alias("admin-explain-user"), AlwaysInterleave]
    Task<AdministeredUser> ExplainUser(CallerIdentity caller, string identityUsername);

    /// <summary>
    /// This endpoint's entries in the audit logs of every login node (each node keeps its own), merged in time order,
    /// and which nodes did not answer: for the endpoint's admins only; anyone else gets 403. The query's endpoint id is
    /// always this endpoint's. Audited as <c>admin-audit</c>.
    /// </summary>
    [Alias("admin-query-audit"), AlwaysInterleave]
    Task<AuditQueryResult> QueryAudit(CallerIdentity caller, AuditQuery query);

    /// <summary>A user endpoint reports that it has (or no longer has) work or a process, so restarts can find it.</summary>
    [Alias("set-active"), OneWay]
    Task SetActive(string userEndpointId, bool active);

    /// <summary>Wakes every user endpoint that was active, so each reconciles with what really runs (after a restart).</summary>
    [Alias("reconcile")]
    Task Reconcile();
}
