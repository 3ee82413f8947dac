using Mep.Grains.Broker;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Mep.Silo.Health;

/// <summary>Both ways the silo uses the broker: its AMQP connection (tasks go out on it) and the management API (every
/// UEP start declares a queue and mints credentials through it).</summary>
internal sealed class BrokerReadinessCheck(BrokerConnection connection, BrokerAdmin admin) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var deadline = HealthEndpoints.Deadline(cancellationToken);
        try
        {
            var amqp = await connection.GetAsync(deadline.Token);
            if (!amqp.IsOpen)
            {
                return HealthCheckResult.Unhealthy($"AMQP connection closed ({amqp.CloseReason?.ReplyText ?? "recovering"})");
            }
            await admin.PingAsync(deadline.Token);
            return HealthCheckResult.Healthy($"AMQP connected and management API answers (virtual host {admin.VirtualHost})");
        }
        catch (Exception e) when (e is OperationCanceledException or BrokerAdminException
            or RabbitMQ.Client.Exceptions.BrokerUnreachableException or RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return HealthCheckResult.Unhealthy($"broker unreachable: {DatabaseReadinessCheck.Message(e, cancellationToken)}");
        }
    }
}
