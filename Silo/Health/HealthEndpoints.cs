using System.Data.Common;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Mep.Silo.Health;

/// <summary>
/// <c>/healthz</c>: the process is alive and serving HTTP (for a supervisor's restart decision).
/// <c>/readyz</c>: this silo can do its work — its database, broker and local launcher answer and it is an active
/// member of the cluster (for load balancers, <c>run.sh</c> and the tests); an endpoint file changed into something
/// invalid makes it degraded (still 200: the previous version serves) with the file and the reason. Both are
/// anonymous: they say nothing about users, only which dependency or file is at fault.
/// </summary>
public static class HealthEndpoints
{
    private const string Ready = "ready";

    /// <param name="database">The data source the silo's storage uses: SQLite's or PostgreSQL's.</param>
    public static IServiceCollection AddMepReadiness(this IServiceCollection services, Func<IServiceProvider, DbDataSource> database)
    {
        services.AddSingleton(sp => new DatabaseReadinessCheck(database(sp)));
        services.AddHealthChecks()
            .AddCheck<MembershipReadinessCheck>("membership", tags: [Ready])
            .AddCheck<DatabaseReadinessCheck>("database", tags: [Ready])
            .AddCheck<BrokerReadinessCheck>("broker", tags: [Ready])
            .AddCheck<LauncherReadinessCheck>("launcher", tags: [Ready])
            .AddCheck<ConfigurationReadinessCheck>("configuration", tags: [Ready]);
        return services;
    }

    public static void MapMepHealth(this WebApplication app)
    {
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapHealthChecks("/readyz", new HealthCheckOptions
        {
            Predicate = c => c.Tags.Contains(Ready),
            ResponseWriter = ReadinessReport.WriteAsync,
            ResultStatusCodes =
            {
                [HealthStatus.Healthy] = StatusCodes.Status200OK,
                [HealthStatus.Degraded] = StatusCodes.Status200OK,
                [HealthStatus.Unhealthy] = StatusCodes.Status503ServiceUnavailable,
            },
        });
    }

    /// <summary>Every check gets this long: a dependency slower than that is not ready for requests either.</summary>
    internal static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(3);

    internal static CancellationTokenSource Deadline(CancellationToken ct)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(CheckTimeout);
        return cts;
    }
}
