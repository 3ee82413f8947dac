using System.Globalization;
using Mep.Contracts.Model;
using Mep.Grains;
using Mep.Grains.Audit;
using Mep.Grains.Telemetry;
using Mep.Protocol;
using Mep.Silo.Api;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Mep.Silo.Status;

/// <summary>
/// The status page for endpoint and site admins (<c>/status</c>), its data as JSON (<c>/status/data</c>), the sign-in
/// that turns a bearer token into a session cookie (<see cref="StatusSessions"/>), and the gate in front of the Orleans
/// dashboard (<c>/dashboard/</c>: site admins only, since it shows every grain of every endpoint).
/// </summary>
internal static class StatusRoutes
{
    public const string DashboardPath = "/dashboard";

    public static IServiceCollection AddMepStatus(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<TaskRates>();
        services.AddSingleton<StatusSessions>();
        services.AddSingleton<StatusBuilder>();
        return services;
    }

    public static void MapMepStatus(this WebApplication app, bool dashboard)
    {
        app.MapGet("/status", async (HttpContext http, StatusSessions sessions, StatusBuilder builder) =>
        {
            Private(http);
            return sessions.Find(http) is { } session
                ? Results.Content(StatusPage.Render(await builder.BuildAsync(session.Caller, session.Expires, dashboard)), "text/html; charset=utf-8")
                : Results.Content(StatusPage.SignIn(), "text/html; charset=utf-8");
        });
        app.MapGet("/status/data", async (HttpContext http, StatusSessions sessions, StatusBuilder builder) =>
        {
            Private(http);
            return sessions.Find(http) is { } session
                ? Results.Json(await builder.BuildAsync(session.Caller, session.Expires, dashboard), ProtocolJson.Options)
                : NotSignedIn();
        });
        app.MapPost("/status/session", async (HttpContext http, StatusSessions sessions, StatusBuilder builder, IOptions<MepOptions> options, IAuditLog audit) =>
        {
            var caller = ApiRoutes.Caller(http);
            var identities = caller.IdentitySet().Select(i => i.Username).ToList();
            if (!options.Value.IsSiteAdmin(caller) && builder.Visible(caller).Count == 0)
            {
                var refusal = $"{caller.Username} is neither an admin of an endpoint here (config.yaml admins) nor a site admin (Mep:SiteAdmins)";
                await audit.WriteAsync(new AuditEntry(DateTimeOffset.UtcNow, "", AuditActions.StatusSession, AuditEntry.Refused, 403, refusal,
                    caller.IdentityId, caller.Username, identities));
                throw ProblemException.Forbidden(refusal);
            }

            var exp = http.User.FindFirst("exp")?.Value;
            var tokenExpires = long.TryParse(exp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) ? DateTimeOffset.FromUnixTimeSeconds(seconds) : (DateTimeOffset?)null;
            var until = sessions.Start(http, caller, tokenExpires);
            await audit.WriteAsync(new AuditEntry(DateTimeOffset.UtcNow, "", AuditActions.StatusSession, AuditEntry.Allowed, 204,
                $"session until {until:O}", caller.IdentityId, caller.Username, identities));
            return Results.NoContent();
        }).RequireAuthorization();
        app.MapPost("/status/logout", (HttpContext http, StatusSessions sessions) =>
        {
            sessions.End(http);
            return Results.Redirect("/status");
        });

        // Before the dashboard's own endpoints run: a signed-in site admin, or nothing of it at all.
        app.UseWhen(http => http.Request.Path.StartsWithSegments(DashboardPath), branch => branch.Use(async (http, next) =>
        {
            var sessions = http.RequestServices.GetRequiredService<StatusSessions>();
            if (sessions.Find(http) is not { Caller: var caller })
            {
                await Problems.Write(http.Response, 401, "Unauthorized", "sign in on /status first (the dashboard is for site admins)");
                return;
            }

            if (!http.RequestServices.GetRequiredService<IOptions<MepOptions>>().Value.IsSiteAdmin(caller))
            {
                await Problems.Write(http.Response, 403, "Forbidden", $"{caller.Username} is not a site admin (Mep:SiteAdmins)");
                return;
            }

            await next(http);
        }));
    }

    /// <summary>Headers of the pages and data: never cached (they show live, per-admin data), never framed by another
    /// site (a framed sign-out or sign-in could be clicked by a visitor unawares).</summary>
    private static void Private(HttpContext http)
    {
        http.Response.Headers.CacheControl = "no-store";
        http.Response.Headers.XContentTypeOptions = "nosniff";
        http.Response.Headers.XFrameOptions = "DENY";
        http.Response.Headers.ContentSecurityPolicy = "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; frame-ancestors 'none'";
    }

    private static IResult NotSignedIn() => Problems.Result(401, "Unauthorized", "no status page session: sign in on /status");
}
