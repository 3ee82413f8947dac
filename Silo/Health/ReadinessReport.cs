using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Mep.Silo.Health;

/// <summary>The body of <c>/readyz</c>: overall status and one line per check, so an operator sees what is missing.</summary>
internal static class ReadinessReport
{
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        var body = new
        {
            status = Name(report.Status),
            checks = report.Entries.ToDictionary(
                e => e.Key,
                e => new { status = Name(e.Value.Status), detail = e.Value.Description ?? e.Value.Exception?.Message, ms = (int)e.Value.Duration.TotalMilliseconds }),
        };
        return JsonSerializer.SerializeAsync(context.Response.Body, body, cancellationToken: context.RequestAborted);
    }

    private static string Name(HealthStatus status) => status switch
    {
        HealthStatus.Healthy => "ready",
        HealthStatus.Degraded => "degraded",
        _ => "not ready",
    };
}
