using System.Globalization;
using Mep.Bench.Site;
using Mep.Protocol.Api;
using Spectre.Console;

namespace Mep.Bench.Experiments;

/// <summary>
/// Experiment 6: where the time of a cold UEP start goes, from timestamps MEP records anyway — the client's clock
/// around the submit and the result, the task's transitions, the audit log's <c>uep-start</c> (pid), the kernel's
/// start time of that pid (/proc, 10 ms steps) and the UEP's first log line, which says how long ago Main began and
/// how long the broker connect took (the one timing point added for this, in Endpoint/Manager/EndpointManager.cs).
/// </summary>
internal static class ColdStart
{
    public const string Name = "6 cold start breakdown";

    // Consecutive on one timeline (all clocks are this machine's), so the phases add up to the total.
    private static readonly string[] Phases =
    [
        "API\n(submit → accepted)",
        "grain + launcher\n(accepted → fork)",
        "exec\n(fork → UEP Main:\nexec-as step, runtime)",
        "UEP start-up\n(Main → connect)",
        "broker connect\n(+ queue check)",
        "workers up\n(connected → task\nstarted on a worker)",
        "first task\n(started → done)",
        "result to client\n(done → SDK has it)",
    ];

    public static async Task RunAsync(BenchContext ctx, Results results, ProgressTask progress, CancellationToken ct)
    {
        var samples = ctx.Run.Quick ? 3 : 10;
        progress.MaxValue = samples + 1;
        var phases = Phases.Select(_ => new List<double>()).ToArray();
        var totals = new List<double>();
        var home = (await Commands.RunAsync("getent", ["passwd", ctx.Site.Settings.BenchUser], ct)).Split(':')[5];
        for (var i = 0; i < samples; i++)
        {
            var split = await OneAsync(ctx, home, ct);
            for (var p = 0; p < split.Length - 1; p++)
            {
                phases[p].Add(split[p]);
            }
            totals.Add(split[^1]);
            progress.Increment(1);
        }
        double bare;
        await using (await RawBroker.OpenAsync(ctx.Broker, ct)) // the probes' virtual host
        {
            bare = await BareStart.MedianAsync(ctx, 1, ctx.Run.BaselineSamples, ct) * 1000;
        }
        progress.Increment(1);
        var medians = phases.Select(Stats.Median).ToList();
        for (var p = 0; p < Phases.Length; p++)
        {
            results.Add(new Measurement(Name, Phases[p].Replace("\n", " ", StringComparison.Ordinal), medians[p], "ms"));
        }
        var total = Stats.Median(totals);
        results.Add(new Measurement(Name, "total (submit → result)", total, "ms", "bare process + connect", bare, "≤ 2× baseline", total <= 2 * bare));
        results.Series.Add(new Series(Name, "median of " + samples.ToString(CultureInfo.InvariantCulture) + " cold starts", "phase", "milliseconds (median)",
            [.. medians.Select((m, p) => ((double)p, m))]) { Labels = Phases });
        results.Series.Add(new Series(Name, "baseline: bare process as the user + broker connect", "phase", "milliseconds (median)", [(0, bare)]) { Baseline = true });
        results.Notes.Add($"Cold start breakdown: {samples} UEPs started one at a time by one no-op each; phases from the client's clock, the " +
            "task transitions (running, success: the worker's clock), the audit log's uep-start (pid), /proc/PID/stat against /proc/uptime " +
            "(10 ms steps) and the UEP's first log line (Main age and connect time). exec includes the launcher's pre-exec step " +
            "(mep-launcher --exec-as) and the UEP program's load; both are Native AOT binaries. The UEP connects while its first worker " +
            "starts, so \"workers up\" (connected → task started) is what the worker still needed after the UEP's connect, and can be " +
            "near zero.");
    }

    /// <summary>One cold start; the phase durations in ms and, last, the total.</summary>
    private static async Task<double[]> OneAsync(BenchContext ctx, string home, CancellationToken ct)
    {
        await using var executor = ctx.NewExecutor(ctx.FreshConfig("cold"), BenchContext.Eager);
        var submitted = DateTimeOffset.UtcNow;
        var tracked = executor.SubmitPythonTracked(ctx.Noop);
        var taskId = await tracked.Accepted;
        var accepted = DateTimeOffset.UtcNow;
        await tracked.Result;
        var done = DateTimeOffset.UtcNow;
        var uep = executor.UserEndpointId ?? throw new InvalidOperationException("no user endpoint id");
        var view = await ctx.Client.GetTaskAsync(taskId, ct);

        var pid = AuditStartPid(ctx.Site.AuditLog, uep);
        var forked = ProcStart(pid);
        var (logged, mainAgo, connect) = FirstLogLine(Path.Combine(home, ".mep", "endpoints", uep, "endpoint.log"));
        var running = At(view, TaskLifecycleState.Running);
        var finished = At(view, TaskLifecycleState.Success);
        await ctx.StopAsync([uep], ct);

        var main = logged - mainAgo;
        var connectStart = logged - connect;
        return
        [
            Ms(accepted - submitted),
            Ms(forked - accepted),
            Ms(main - forked),
            Ms(connectStart - main),
            Ms(connect),
            Ms(running - logged),
            Ms(finished - running),
            Ms(done - finished),
            Ms(done - submitted),
        ];
    }

    private static double Ms(TimeSpan t) => t.TotalMilliseconds;

    private static DateTimeOffset At(TaskView view, TaskLifecycleState state) =>
        view.Transitions.LastOrDefault(t => t.State == state)?.At
        ?? throw new InvalidOperationException($"task {view.TaskId} has no {state} transition");

    private static int AuditStartPid(string auditLog, string uep)
    {
        using var stream = new FileStream(auditLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        int? pid = null;
        while (reader.ReadLine() is { } line)
        {
            using var doc = System.Text.Json.JsonDocument.Parse(line);
            var e = doc.RootElement;
            if (Text(e, "action") == "uep-start" && Text(e, "user_endpoint_id") == uep && e.TryGetProperty("pid", out var p) && p.TryGetInt32(out var value))
            {
                pid = value;
            }
        }
        return pid ?? throw new InvalidOperationException($"no uep-start with a pid for {uep} in {auditLog}");
    }

    private static string? Text(System.Text.Json.JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.String ? v.GetString() : null;

    /// <summary>
    /// When the kernel started <paramref name="pid"/>: field 22 of /proc/PID/stat (clock ticks since boot, USER_HZ 100)
    /// against /proc/uptime read now (btime has whole seconds only: too coarse for this).
    /// </summary>
    private static DateTimeOffset ProcStart(int pid)
    {
        var now = DateTimeOffset.UtcNow;
        var uptime = double.Parse(File.ReadAllText("/proc/uptime").Split(' ')[0], CultureInfo.InvariantCulture);
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var started = long.Parse(fields[19], CultureInfo.InvariantCulture) / 100.0; // fields[0] is field 3 overall
        return now - TimeSpan.FromSeconds(uptime - started);
    }

    /// <summary>The UEP's line "… pid N on HOST; main X ms ago, broker connect Y ms": its time, X and Y.</summary>
    private static (DateTimeOffset At, TimeSpan MainAgo, TimeSpan Connect) FirstLogLine(string path)
    {
        var line = File.ReadLines(path).LastOrDefault(l => l.Contains(" ms ago, broker connect ", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"{path} has no start line with timings");
        var at = DateTimeOffset.Parse(line[..line.IndexOf(' ', StringComparison.Ordinal)], CultureInfo.InvariantCulture);
        var tail = line[(line.LastIndexOf("; main ", StringComparison.Ordinal) + 7)..].Split(' ');
        return (at, TimeSpan.FromMilliseconds(double.Parse(tail[0], CultureInfo.InvariantCulture)),
            TimeSpan.FromMilliseconds(double.Parse(tail[5], CultureInfo.InvariantCulture)));
    }
}
