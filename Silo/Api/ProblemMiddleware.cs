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
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nothing to answer.
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            logger.LogError(e, "Unhandled error on {Method} {Path}", context.Request.Method, context.Request.Path);
            await Problems.Write(context.Response, 500, "Internal error", $"the request failed inside MEP (trace id {context.TraceIdentifier})");
        }
    }
}
