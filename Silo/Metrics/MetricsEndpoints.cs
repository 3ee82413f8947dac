using Mep.Grains.Telemetry;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry.Metrics;

namespace Mep.Silo.Metrics;

/// <summary>
/// <c>/metrics</c> in the Prometheus text format: MEP's meter (<see cref="Grains.Telemetry.MepMetrics"/>), Orleans'
/// meters, the .NET runtime's and the process's. Anonymous, like <c>/readyz</c>: it carries endpoint ids and node
/// names, never users; sites that want it private keep the API port off the public network or filter the path.
/// </summary>
public static class MetricsEndpoints
{
    /// <summary>The meter Orleans publishes its runtime, catalog, messaging and storage instruments on.</summary>
    private const string OrleansMeter = "Microsoft.Orleans";

    public static IServiceCollection AddMepMetrics(this IServiceCollection services)
    {
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(MepMetrics.MeterName, OrleansMeter)
            .AddAspNetCoreInstrumentation() // HTTP request durations by route and status: the API's own latency
            .AddRuntimeInstrumentation() // GC, heap, thread pool
            .AddPrometheusExporter());
        services.AddHostedService<NodeUserEndpointGauge>();
        services.AddSingleton<ReadinessGauge>();
        services.AddSingleton<IHealthCheckPublisher>(sp => sp.GetRequiredService<ReadinessGauge>());
        // The readiness checks also run in the background, so that their last result is a metric between scrapes.
        services.Configure<HealthCheckPublisherOptions>(o => (o.Delay, o.Period) = (TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(15)));
        return services;
    }

    public static void MapMepMetrics(this WebApplication app) => app.MapPrometheusScrapingEndpoint("/metrics");
}
