using Mep.Protocol.Api;

namespace Mep.Sdk;

/// <summary>
/// The API answered with a non-2xx status. <see cref="Problem"/> is the RFC 7807 body as the server sent it,
/// or one made up from the status line when the body was not problem JSON (a proxy, an empty 401).
/// The message is the problem's detail, because that is the sentence that names the cause.
/// </summary>
public sealed class MepApiException : Exception
{
    public MepApiException(Problem problem, TimeSpan? retryAfter = null)
        : base(string.IsNullOrWhiteSpace(problem.Detail) ? problem.Title : problem.Detail)
    {
        Problem = problem;
        RetryAfter = retryAfter;
    }

    /// <summary>The answer's Retry-After (429 past a limit): how long to wait before trying again.</summary>
    public TimeSpan? RetryAfter { get; }

    public Problem Problem { get; }

    public int Status => Problem.Status;

    public string Title => Problem.Title;

    public string Detail => Problem.Detail;
}
