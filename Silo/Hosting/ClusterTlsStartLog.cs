using Microsoft.Extensions.Options;

namespace Mep.Silo.Hosting;

/// <summary>One line at start saying how silo-to-silo traffic travels: a plain-text cluster must not go unnoticed.</summary>
public sealed partial class ClusterTlsStartLog(IOptions<SiloSettings> settings, IServiceProvider services, ILogger<ClusterTlsStartLog> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var cluster = settings.Value.Cluster;
        if (cluster.Tls.Enabled)
        {
            LogTls(logger, cluster.SiloPort, cluster.GatewayPort, services.GetRequiredService<ClusterTls>().Describe());
        }
        else
        {
            LogPlain(logger, cluster.SiloPort, cluster.GatewayPort);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "Silo-to-silo and gateway traffic (ports {SiloPort}, {GatewayPort}): mutual TLS, {Identity}")]
    private static partial void LogTls(ILogger logger, int siloPort, int gatewayPort, string identity);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning,
        Message = "Silo-to-silo and gateway traffic (ports {SiloPort}, {GatewayPort}) is NOT encrypted (Mep:Cluster:Tls:Enabled=false): grain calls, task arguments and results cross the network in clear; keep these ports on a private network")]
    private static partial void LogPlain(ILogger logger, int siloPort, int gatewayPort);
}
