using System.Diagnostics.Metrics;

namespace Mep.Grains.Telemetry;

/// <summary>
/// MEP's own instruments, on the .NET metrics API (meter <c>Mep</c>) so that grains know nothing of the exporter: the
/// silo publishes them, with Orleans' and the runtime's meters, on <c>/metrics</c>. Each silo counts what happened in
/// its grains; a site's figure is the sum over its silos. Labels are endpoint ids, node names and fixed reasons, never
/// user names or identities (the audit log is the place for those).
/// </summary>
public static class MepMetrics
{
    public const string MeterName = "Mep";

    private static readonly Meter Meter = new(MeterName, "1.0");

    private static readonly Counter<long> Requests = Meter.CreateCounter<long>(
        "mep.requests", "{request}", "Endpoint requests (submit, describe, stop) by outcome");

    private static readonly Counter<long> MappingFailures = Meter.CreateCounter<long>(
        "mep.identity_mapping.failures", "{request}", "Requests refused because the identity mapped to no usable local account");

    private static readonly Counter<long> TasksSubmitted = Meter.CreateCounter<long>(
        "mep.tasks.submitted", "{task}", "Tasks accepted (durable) by the API");

    private static readonly Counter<long> TasksCompleted = Meter.CreateCounter<long>(
        "mep.tasks.completed", "{task}", "Tasks whose outcome was recorded, by state");

    private static readonly Histogram<double> TaskLatency = Meter.CreateHistogram<double>(
        "mep.task.latency", "s", "Time from submission to the recorded outcome",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600] });

    private static readonly Counter<long> UepStarts = Meter.CreateCounter<long>(
        "mep.uep.starts", "{start}", "User endpoint process starts asked of a node's launcher, by outcome");

    private static readonly Counter<long> UepExits = Meter.CreateCounter<long>(
        "mep.uep.exits", "{exit}", "User endpoint process exits, by kind (clean, stopped, failed start, crashed, lost)");

    private static readonly Counter<long> LauncherRequests = Meter.CreateCounter<long>(
        "mep.launcher.requests", "{request}", "Requests to the local launcher, by operation and outcome");

    private static readonly Histogram<int> TaskStoreCommits = Meter.CreateHistogram<int>(
        "mep.task_store.commit_rows", "{row}", "Rows (new tasks, progress, ends) per task-store commit: how well writes are grouped",
        advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096] });

    public static void TaskStoreCommit(int rows) => TaskStoreCommits.Record(rows);

    public static void Request(string endpointId, string action, int status) =>
        Requests.Add(1, new("endpoint", endpointId), new("action", action), new("status", status));

    /// <param name="reason">no_mapping, or account_refused (the account is missing, locked, a system account or root).</param>
    public static void MappingFailure(string endpointId, string reason) =>
        MappingFailures.Add(1, new("endpoint", endpointId), new("reason", reason));

    public static void Submitted(string endpointId, int count) =>
        TasksSubmitted.Add(count, new KeyValuePair<string, object?>("endpoint", endpointId));

    public static void Completed(string endpointId, bool success, TimeSpan latency)
    {
        var state = new KeyValuePair<string, object?>("state", success ? "success" : "failed");
        var endpoint = new KeyValuePair<string, object?>("endpoint", endpointId);
        TasksCompleted.Add(1, endpoint, state);
        TaskLatency.Record(Math.Max(0, latency.TotalSeconds), endpoint, state);
    }

    /// <param name="outcome">started or refused.</param>
    public static void UepStart(string endpointId, string node, string outcome) =>
        UepStarts.Add(1, new("endpoint", endpointId), new("node", node), new("outcome", outcome));

    /// <param name="kind">clean (idle or asked to), stopped (through the API), failed_start, crashed, or lost (gone unseen, or with its node).</param>
    public static void UepExit(string endpointId, string node, string kind) =>
        UepExits.Add(1, new("endpoint", endpointId), new("node", node), new("kind", kind));

    /// <param name="outcome">ok, refused or unavailable.</param>
    public static void LauncherRequest(string operation, string outcome) =>
        LauncherRequests.Add(1, new("operation", operation), new("outcome", outcome));

    /// <summary>A gauge whose value some service keeps (live UEPs per node, readiness of each dependency).</summary>
    public static ObservableGauge<long> Gauge(string name, string unit, string description, Func<IEnumerable<Measurement<long>>> observe) =>
        Meter.CreateObservableGauge(name, observe, unit, description);
}
