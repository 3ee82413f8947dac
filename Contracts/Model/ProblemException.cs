namespace Mep.Contracts.Model;

/// <summary>
/// A request the cluster refuses, with what the API answers: an HTTP status, a short title and a detail that names
/// the cause. Thrown by grains, crosses the grain boundary, and becomes RFC 7807 problem+json at the API.
/// </summary>
[GenerateSerializer, Alias("mep.problem-exception")]
public sealed class ProblemException : Exception
{
    public ProblemException(int status, string title, string detail, int? retryAfterSeconds = null)
        : base(detail)
    {
        Status = status;
        Title = title;
        Detail = detail;
        RetryAfterSeconds = retryAfterSeconds;
    }

    [Id(0)]
    public int Status { get; }

    [Id(1)]
    public string Title { get; }

    [Id(2)]
    public string Detail { get; }

    /// <summary>When to try again (the answer's Retry-After header), for a refusal that time lifts.</summary>
    [Id(3)]
    public int? RetryAfterSeconds { get; }

    public static ProblemException BadRequest(string detail) => new(400, "Bad request", detail);

    public static ProblemException Forbidden(string detail) => new(403, "Forbidden", detail);

    public static ProblemException NotFound(string detail) => new(404, "Not found", detail);

    public static ProblemException Conflict(string detail) => new(409, "Conflict", detail);

    public static ProblemException Unavailable(string detail) => new(503, "Service unavailable", detail);

    /// <summary>A limit was reached; <paramref name="retryAfter"/> (rounded up to whole seconds, at least 1) says when to try again.</summary>
    public static ProblemException TooManyRequests(string detail, TimeSpan retryAfter) =>
        new(429, "Too many requests", detail, (int)Math.Max(1, Math.Ceiling(retryAfter.TotalSeconds)));
}
