using System.Security.Claims;
using System.Text.Json;
using Mep.Contracts.Model;
using Mep.Protocol.Auth;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Mep.Silo.Auth;

/// <summary>
/// Bearer-token authentication against the configured issuers (<see cref="TokenAuthOptions"/>).
/// </summary>
/// <remarks>
/// One JWT bearer scheme per issuer, chosen by a policy scheme from the token's unvalidated <c>iss</c> (see
/// <see cref="BearerTokenPrecheck"/>), rather than one scheme with an <c>IssuerSigningKeyResolver</c>: the resolver is
/// synchronous (discovery keys would need sync-over-async), audiences and the identity-set claim are per issuer, and
/// per-issuer schemes keep the handler's own key caching and refresh on an unknown <c>kid</c>. Tokens no scheme can
/// take (none, garbage, unknown issuer, HMAC or <c>none</c> algorithm) go to <see cref="BearerRejectionHandler"/>.
/// </remarks>
public static class TokenAuthentication
{
    public const string Scheme = "mep-bearer";
    private const string RejectionScheme = "mep-bearer-rejected";

    public static string IssuerScheme(int index) => $"mep-bearer-issuer-{index}";

    /// <param name="section">The <c>Mep:Auth</c> configuration section.</param>
    public static IServiceCollection AddMepTokenAuthentication(this IServiceCollection services, IConfiguration section)
    {
        services.AddOptions<TokenAuthOptions>().Bind(section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TokenAuthOptions>, TokenAuthOptionsValidator>();

        var authentication = services.AddAuthentication(Scheme)
            .AddPolicyScheme(Scheme, "MEP bearer tokens", policy => policy.ForwardDefaultSelector = context =>
                BearerTokenPrecheck.Inspect(context) is { Reason: null, IssuerIndex: >= 0 and var index } ? IssuerScheme(index) : RejectionScheme)
            .AddScheme<AuthenticationSchemeOptions, BearerRejectionHandler>(RejectionScheme, null);

        // The number of schemes is fixed when services are registered; their settings come from the validated options.
        var count = section.GetSection(nameof(TokenAuthOptions.Issuers)).GetChildren().Count();
        for (var i = 0; i < count; i++)
        {
            var index = i;
            authentication.AddJwtBearer(IssuerScheme(index), _ => { });
            services.AddOptions<JwtBearerOptions>(IssuerScheme(index))
                .Configure<IOptions<TokenAuthOptions>, ILoggerFactory>((jwt, auth, logs) => ConfigureIssuer(jwt, auth.Value, index, logs));
        }

        services.AddAuthorization();
        return services;
    }

    /// <summary>The caller as the grains see it; null when the request was not authenticated by these schemes.</summary>
    public static CallerIdentity? ToCaller(ClaimsPrincipal user) =>
        user.Identities.OfType<CallerClaimsIdentity>().FirstOrDefault()?.Caller;

    private static void ConfigureIssuer(JwtBearerOptions jwt, TokenAuthOptions auth, int index, ILoggerFactory logs)
    {
        var issuer = auth.Issuers[index];
        var logger = logs.CreateLogger($"Mep.Silo.Auth.Issuer{index}");
        jwt.MapInboundClaims = false;
        jwt.ConfigurationManager = issuer.JwksFile is { Length: > 0 } file
            ? new JwksFileConfigurationManager(issuer.Issuer, file, logger)
            : Discovery(issuer, logger);
        jwt.TokenValidationParameters = new TokenValidationParameters
        {
            // The configuration managers add their own view of the issuer to ValidIssuers; only the exact one counts.
            IssuerValidator = (iss, _, _) => string.Equals(iss, issuer.Issuer, StringComparison.Ordinal)
                ? iss
                : throw new SecurityTokenInvalidIssuerException(BearerChallenge.UnknownIssuer),
            ValidAudiences = issuer.Audiences,
            ValidAlgorithms = BearerTokenPrecheck.Algorithms,
            RequireSignedTokens = true,
            RequireExpirationTime = true,
            ValidateLifetime = true,
            ClockSkew = auth.ClockSkew,
            NameClaimType = MepClaims.Username,
        };
        var cache = new ValidatedTokenCache(auth.TokenCacheLifetime, auth.TokenCacheCapacity, TimeProvider.System);
        jwt.Events = new JwtBearerEvents
        {
            OnMessageReceived = async context =>
            {
                if (!cache.Enabled || BearerToken(context.Request) is not { } token)
                {
                    return;
                }

                object keys;
                try
                {
                    keys = await context.Options.ConfigurationManager!.GetConfigurationAsync(context.HttpContext.RequestAborted);
                }
                catch (Exception e) when (e is TokenRejectedException or OperationCanceledException)
                {
                    return; // the handler meets the same failure and answers it
                }

                // Remembered for OnTokenValidated: the keys as they were before the check (a reload in between only
                // makes the entry miss later, never match keys it was not checked against).
                context.HttpContext.Items[KeysItem] = keys;
                if (cache.Find(token, keys) is { } principal)
                {
                    context.Principal = principal;
                    context.Success();
                }
            },
            OnTokenValidated = context =>
            {
                var jwtToken = (JsonWebToken)context.SecurityToken;
                var payload = JsonDocument.Parse(Base64UrlEncoder.DecodeBytes(jwtToken.EncodedPayload)).RootElement;
                var (caller, reason) = CallerClaims.FromPayload(payload, issuer.Issuer, issuer.IdentitySetClaim);
                if (caller is null)
                {
                    context.Fail(new TokenRejectedException(reason!));
                }
                else
                {
                    var identity = new CallerClaimsIdentity(context.Principal!.Identities.First(), caller);
                    context.Principal = new ClaimsPrincipal(identity);
                    if (context.HttpContext.Items[KeysItem] is { } keys)
                    {
                        cache.Add(jwtToken.EncodedToken, keys, identity, new DateTimeOffset(jwtToken.ValidTo, TimeSpan.Zero) + auth.ClockSkew);
                    }
                }

                return Task.CompletedTask;
            },
            // Unreachable keys throw past the handler's own catch: make them a refusal too, not a 500.
            OnAuthenticationFailed = context =>
            {
                context.Fail(context.Exception);
                return Task.CompletedTask;
            },
            OnChallenge = async context =>
            {
                context.HandleResponse();
                await BearerChallenge.WriteAsync(context.Response, context.AuthenticateFailure is { } failure ? BearerChallenge.ReasonFor(failure) : null);
            },
        };
    }

    private const string KeysItem = "mep.auth.keys";

    /// <summary>The token as the JWT bearer handler takes it from the Authorization header; null when there is none.</summary>
    private static string? BearerToken(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (!authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var token = authorization["Bearer ".Length..].Trim();
        return token.Length == 0 ? null : token;
    }

    private static DiscoveryConfigurationManager Discovery(TokenIssuerOptions issuer, ILogger logger)
    {
        var authority = new Uri(issuer.Authority!);
        var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        return new DiscoveryConfigurationManager(issuer.Issuer, authority, requireHttps: !TokenAuthOptionsValidator.IsLoopback(authority), http, logger);
    }
}

/// <summary>The validated token's claims together with the caller built from them.</summary>
internal sealed class CallerClaimsIdentity : ClaimsIdentity
{
    public CallerClaimsIdentity(ClaimsIdentity validated, CallerIdentity caller)
        : base(validated) => Caller = caller;

    public CallerIdentity Caller { get; }

    // The authentication pipeline may clone principals; a plain copy would lose the caller.
    public override ClaimsIdentity Clone() => new CallerClaimsIdentity(this, Caller);
}
