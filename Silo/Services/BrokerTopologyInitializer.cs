using Mep.Streams.RabbitMQ.Hosting;
using Mep.Streams.RabbitMQ.Providers;
using Mep.Grains.Broker;

namespace Mep.Silo.Services;

/// <summary>
/// Creates the virtual host, then the event stream's exchange and partition queues, before the silo serves: UEPs
/// publish events to them, so they must exist before any UEP starts. The broker may still be starting (run.sh
/// starts both at once), so it retries until a deadline and then fails the silo's start.
/// </summary>
public sealed class BrokerTopologyInitializer(BrokerAdmin admin, IServiceProvider services, ILogger<BrokerTopologyInitializer> logger)
    : IHostedService
{
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(2);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var until = DateTime.UtcNow + Deadline;
        var delay = TimeSpan.FromMilliseconds(200);
        while (true)
        {
            try
            {
                await admin.EnsureVirtualHostAsync(cancellationToken);
                await services.EnsureRabbitMqStreamTopologyAsync(MepEventStreams.Provider, cancellationToken);
                logger.LogInformation("Broker topology ready on virtual host {VirtualHost}", admin.VirtualHost);
                return;
            }
            catch (Exception e) when (e is HttpRequestException or BrokerAdminException or RabbitMqUnavailableException && DateTime.UtcNow < until)
            {
                logger.LogWarning("Broker not ready ({Message}); retrying in {Delay}", e.Message, delay);
                await Task.Delay(delay, cancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
