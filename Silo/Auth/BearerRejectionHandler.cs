using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Mep.Silo.Auth;

/// <summary>
/// The scheme for requests that no issuer's scheme can take: without a bearer token (no result, so anonymous
/// endpoints still work) or with one refused by <see cref="BearerTokenPrecheck"/> (unknown issuer, algorithm, garbage).
/// </summary>
internal sealed class BearerRejectionHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var verdict = BearerTokenPrecheck.Inspect(Context);
        return Task.FromResult(verdict.Reason is { } reason
            ? AuthenticateResult.Fail(new TokenRejectedException(reason))
            : AuthenticateResult.NoResult());
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        await BearerChallenge.WriteAsync(Response, result.Failure is { } failure ? BearerChallenge.ReasonFor(failure) : null);
    }
}
