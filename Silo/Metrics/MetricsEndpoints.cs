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

    /// <summary>
    /// Label combinations kept per instrument. OpenTelemetry allocates every instrument's points for its whole limit
    /// up front (default 2000, about 170 KB each, on the large-object heap): with Orleans' ~150 instruments that was
    /// ~28 MB of the silo's idle RSS for points never used. Orleans' and the runtime's instruments are labelled by
    /// grain type, generation and the like (tens of values); past the limit a measurement still counts, in a point
    /// labelled <c>otel.metric.overflow</c>, so the totals stay right.
    /// </summary>
    internal const int CardinalityLimit = 200;

    /// <summary>The limit of MEP's own instruments and of the API's request durations, which are labelled by endpoint
    /// (times action and status) and by route and status: a site with many endpoints needs more than the rest.</summary>
    internal const int WideCardinalityLimit = 1000;

    public static IServiceCollection AddMepMetrics(this IServiceCollection services)
    {
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(MepMetrics.MeterName, OrleansMeter)
            .AddAspNetCoreInstrumentation() // HTTP request durations by route and status: the API's own latency
            .AddRuntimeInstrumentation() // GC, heap, thread pool
            .AddView(instrument => new MetricStreamConfiguration
            {
                CardinalityLimit = instrument.Meter.Name == MepMetrics.MeterName || instrument.Name == "http.server.request.duration"
                    ? WideCardinalityLimit
                    : CardinalityLimit,
            })
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
