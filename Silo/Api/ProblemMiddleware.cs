using Mep.Contracts.Model;

namespace Mep.Silo.Api;

/// <summary>Turns refusals from handlers and grains into problem+json; anything unexpected is a 500 without internals.</summary>
public sealed class ProblemMiddleware(RequestDelegate next, ILogger<ProblemMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);
        }
        catch (ProblemException e) when (!context.Response.HasStarted)
        {
            if (e.RetryAfterSeconds is { } seconds)
            {
                context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            await Problems.Write(context.Response, e.Status, e.Title, e.Detail);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            await Problems.Write(context.Response, e.StatusCode, "Bad request", e.Message);
        }
        catch (Exception e) when (!context.Response.HasStarted && IsClusterInTransition(e))
        {
            // A login node died and the cluster has not yet declared it dead (or is moving its grains): nothing was
            // decided, so the client may safely try again, through this node or another.
            logger.LogWarning(e, "{Method} {Path} met a cluster in transition", context.Request.Method, context.Request.Path);
            context.Response.Headers.RetryAfter = "5";
            await Problems.Write(context.Response, 503, "Service unavailable",
                $"the cluster is recovering from the loss of a node; retry shortly (trace id {context.TraceIdentifier})");
        }
        catch (TimeoutException e) when (!context.Response.HasStarted)
        {
            // Unlike the case above the call may have been carried out, only its answer not seen in time: say so, so
            // that a client looks (task status, endpoint view) before it repeats a submit.
            logger.LogWarning(e, "{Method} {Path} timed out inside the cluster", context.Request.Method, context.Request.Path);
            await Problems.Write(context.Response, 504, "Timeout",
                $"MEP did not answer in time; the request may or may not have taken effect (trace id {context.TraceIdentifier})");
        }
        catch (Exception e) when (e is OperationCanceledException or IOException && context.RequestAborted.IsCancellationRequested)
        {
            // The client went away (on HTTP/2 it resets the request's stream, and a body still being read fails with
            // an IOException): nothing to answer, and nothing went wrong here. An executor does it whenever it cuts a
            // long poll short.
            logger.LogDebug(e, "{Method} {Path}: the client went away", context.Request.Method, context.Request.Path);
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            logger.LogError(e, "Unhandled error on {Method} {Path}", context.Request.Method, context.Request.Path);
            await Problems.Write(context.Response, 500, "Internal error", $"the request failed inside MEP (trace id {context.TraceIdentifier})");
        }
    }

    /// <summary>Failures of reaching a grain, not of the request: a silo that is gone or unreachable, a message the
    /// runtime rejected while the cluster reshuffles, a node without a live silo.</summary>
    private static bool IsClusterInTransition(Exception e) => e switch
    {
        SiloUnavailableException or OrleansMessageRejectionException or NodeUnavailableException => true,
        AggregateException { InnerExceptions.Count: 1 } a => IsClusterInTransition(a.InnerExceptions[0]),
        _ => false,
    };
}
