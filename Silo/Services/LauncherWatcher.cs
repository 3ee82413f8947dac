using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains;
using Mep.Grains.Endpoints;
using Mep.Grains.Launching;
using Microsoft.Extensions.Options;

namespace Mep.Silo.Services;

/// <summary>
/// Holds a watch on every launcher this silo uses and tells user endpoint grains when their process ends. Each time a
/// watch is (re)established — at start, and after the launcher restarts — every endpoint reconciles its active user
/// endpoints with what the launcher really runs, because exits may have happened while nobody was watching.
/// </summary>
public sealed class LauncherWatcher(
    EndpointCatalog catalog,
    IOptions<MepOptions> options,
    IGrainFactory grains,
    ILocalSiloDetails silo,
    ILogger<LauncherWatcher> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var sockets = catalog.All.Select(e => e.LauncherSocket ?? options.Value.LauncherSocket).Distinct(StringComparer.Ordinal);
        return Task.WhenAll(sockets.Select(s => WatchAsync(s, stoppingToken)));
    }

    private async Task WatchAsync(string socket, CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(250);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var watch = await new LauncherClient(socket).OpenWatchAsync(ct);
                logger.LogInformation("Watching launcher {Socket}", socket);
                delay = TimeSpan.FromMilliseconds(250);
                await ReconcileAsync(socket);
                await foreach (var exited in watch.ReadAllAsync(ct))
                {
                    logger.LogInformation("User endpoint {UepId} (pid {Pid}) exited with {ExitCode}", exited.UepId, exited.Pid, exited.ExitCode);
                    await grains.GetGrain<IUserEndpointGrain>(exited.UepId)
                        .OnProcessExited(new ProcessExit(exited.Pid, exited.ExitCode, exited.StderrTail, exited.At, exited.Reason, silo.Name));
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning("Launcher {Socket} watch lost ({Message}); reconnecting in {Delay}", socket, e.Message, delay);
                await Task.Delay(delay, ct).ContinueWith(_ => { }, TaskScheduler.Default);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }

    private async Task ReconcileAsync(string socket)
    {
        foreach (var endpoint in catalog.All.Where(e => (e.LauncherSocket ?? options.Value.LauncherSocket) == socket))
        {
            await grains.GetGrain<IEndpointGrain>(endpoint.EndpointId).Reconcile();
        }
    }
}
