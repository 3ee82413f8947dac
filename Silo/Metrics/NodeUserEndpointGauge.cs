using System.Diagnostics.Metrics;
using Mep.Grains;
using Mep.Grains.Launching;
using Mep.Grains.Telemetry;
using Microsoft.Extensions.Options;

namespace Mep.Silo.Metrics;

/// <summary>
/// <c>mep_node_user_endpoints{node}</c>: how many UEP processes this node's launcher runs, as the launcher itself
/// lists them (the truth, whichever silo's grain owns each), asked every 15 s so a scrape never waits on the socket.
/// Absent while the launcher does not answer (<c>mep_ready{check="launcher"}</c> says so).
/// </summary>
internal sealed class NodeUserEndpointGauge(IOptions<MepOptions> options, ILocalSiloDetails silo, ILogger<NodeUserEndpointGauge> logger)
    : BackgroundService
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(15);
    private long? _running;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        MepMetrics.Gauge("mep.node.user_endpoints", "{process}", "User endpoint processes this login node's launcher runs",
            () => _running is { } n ? [new Measurement<long>(n, new KeyValuePair<string, object?>("node", silo.Name))] : []);
        var launcher = new LauncherClient(options.Value.LauncherSocket);
        using var timer = new PeriodicTimer(Period);
        do
        {
            try
            {
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                deadline.CancelAfter(TimeSpan.FromSeconds(5));
                _running = (await launcher.ListAsync(deadline.Token)).Count;
            }
            catch (Exception e) when (e is LauncherException or OperationCanceledException && !stoppingToken.IsCancellationRequested)
            {
                _running = null;
                logger.LogDebug("Launcher did not list its user endpoints for the gauge: {Message}", e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).AsTask().ContinueWith(t => t is { IsCompletedSuccessfully: true, Result: true }, TaskScheduler.Default));
    }
}
