using Mep.Protocol.Launcher;

namespace Mep.Endpoint.Worker;

/// <summary>
/// Everything a worker needs, written by its UEP to <see cref="UepDirectory.WorkerDocumentPath"/> (mode 0600, in a
/// 0700 directory of the user's) and named on the worker's command line by path only: the broker password never
/// appears in argv or the environment, where other users could read it from /proc.
/// </summary>
/// <param name="MaxTasks">Tasks one worker runs at once (<c>engine.max_workers_per_node</c>).</param>
/// <param name="AllowedFunctions">The functions this UEP may run (the endpoint's list narrowed by the config's); null: any.</param>
/// <param name="RunDirectory">The UEP's directory (<see cref="UepDirectory"/>), shared with the workers.</param>
/// <param name="HeartbeatPeriodSeconds">How often a worker refreshes its status file.</param>
/// <param name="ManagerTimeoutSeconds">A worker whose UEP has not refreshed its liveness file for this long exits:
/// no worker outlives its UEP by much, even in a batch job the UEP could no longer cancel.</param>
/// <param name="Prefetch">Unacknowledged tasks the worker holds (its broker prefetch): <paramref name="MaxTasks"/> and
/// the config's prefetch capacity; 0 (a document from before it was written): <paramref name="MaxTasks"/>.</param>
internal sealed record WorkerDocument(
    string UepId,
    BrokerCredentials Broker,
    int MaxTasks,
    TaskLimits Limits,
    IReadOnlyList<Guid>? AllowedFunctions,
    string RunDirectory,
    double HeartbeatPeriodSeconds,
    double ManagerTimeoutSeconds,
    int Prefetch = 0);
