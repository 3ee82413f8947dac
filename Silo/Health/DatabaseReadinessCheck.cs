using System.Data.Common;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Mep.Silo.Health;

/// <summary>The grain storage's database takes a connection and a trivial query.</summary>
internal sealed class DatabaseReadinessCheck(DbDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var deadline = HealthEndpoints.Deadline(cancellationToken);
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(deadline.Token);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT 1";
            await command.ExecuteScalarAsync(deadline.Token);
            return HealthCheckResult.Healthy($"{connection.GetType().Name.Replace("Connection", "", StringComparison.Ordinal)} answers");
        }
        catch (Exception e) when (e is DbException or OperationCanceledException or InvalidOperationException or IOException)
        {
            return HealthCheckResult.Unhealthy($"database unreachable: {Message(e, cancellationToken)}");
        }
    }

    internal static string Message(Exception e, CancellationToken requestToken) =>
        e is OperationCanceledException && !requestToken.IsCancellationRequested
            ? $"no answer within {HealthEndpoints.CheckTimeout.TotalSeconds:0} s"
            : e.Message;
}
