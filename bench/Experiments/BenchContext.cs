using System.Globalization;
using System.Text.Json.Nodes;
using Mep.Bench.Site;
using Mep.Sdk;

namespace Mep.Bench.Experiments;

/// <summary>
/// What every experiment shares: the running site, an SDK client for the bench identity, the functions (a Python
/// no-op, run in the worker's long-lived interpreter, and a shell sleep), and the run's sizes.
/// </summary>
internal sealed class BenchContext(BenchSite site, MepClient client, BrokerAccess broker, SiteRunSettings run, Guid noop, Guid sleep, Action<string> say)
{
    private int _labels;

    public BenchSite Site => site;

    public MepClient Client => client;

    public BrokerAccess Broker => broker;

    public SiteRunSettings Run => run;

    public Guid Noop => noop;

    public Guid Sleep => sleep;

    public void Say(string line) => say(line);

    /// <summary>SDK settings for latency-bound work: no batching window and a 1 ms status poll, so the client adds
    /// as little as it can and the figure is the site's; <see cref="ExecutorOptions"/>' defaults are measured apart.</summary>
    public static readonly ExecutorOptions Eager = new()
    {
        BatchWindow = TimeSpan.Zero,
        MinPollInterval = TimeSpan.FromMilliseconds(1),
        MaxPollInterval = TimeSpan.FromMilliseconds(20),
    };

    public static async Task<BenchContext> CreateAsync(BenchSite site, SiteRunSettings run, Action<string> say, CancellationToken ct)
    {
        var token = await site.IssueTokenAsync(ct);
        var client = new MepClient(new Uri(site.Settings.ApiUrl), token, MepTls.CreateHandler(site.CaFile));
        var noop = await client.RegisterFunctionAsync(PythonFunction.FromSource("def noop():\n    return None\n", "noop", "bench-noop"), ct);
        var sleep = await client.RegisterShellFunctionAsync("sleep {seconds}", "bench-sleep", 600, ct);
        var broker = new BrokerAccess("127.0.0.1", site.Settings.AmqpPort, site.Settings.ManagementPort, "admin", site.BrokerAdminPassword, site.CaFile);
        return new BenchContext(site, client, broker, run, noop.FunctionId, sleep.FunctionId, say);
    }

    /// <summary>A user endpoint config no earlier one had: a new UEP (the paper changes the description likewise).</summary>
    public JsonObject FreshConfig(string experiment, int workers = 1) => new()
    {
        ["label"] = string.Create(CultureInfo.InvariantCulture, $"{experiment}-{Interlocked.Increment(ref _labels)}-{Guid.NewGuid():N}"),
        ["workers"] = workers,
    };

    public Executor NewExecutor(JsonObject config, ExecutorOptions? options = null) => new(client, BenchEndpoint.Id, config, options);

    /// <summary>Runs the no-op and fails the run unless it succeeded.</summary>
    public static async Task NoopAsync(Executor executor, Guid noop)
    {
        var result = await executor.SubmitPython(noop);
        if (result.Exception is not null || result.Error is not null)
        {
            throw new BenchTaskFailedException($"a no-op task failed: {result.Error ?? result.Exception?.Message}");
        }
    }

    /// <summary>Stops the given user endpoints through the API and waits until no UEP process of the bench account is left.</summary>
    public async Task StopAsync(IEnumerable<string> uepIds, CancellationToken ct)
    {
        foreach (var id in uepIds.Distinct())
        {
            await client.StopUserEndpointAsync(BenchEndpoint.Id, id, ct);
        }
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (UepProcesses.List(site.BenchUid, site.EndpointProgram).Count > 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new SiteFailedException("user endpoints still run 90 s after they were stopped");
            }
            await Task.Delay(250, ct);
        }
        site.EnsureAlive();
    }
}

/// <summary>A task of the benchmark failed: the run reports no figure.</summary>
internal sealed class BenchTaskFailedException(string message) : Exception(message);
