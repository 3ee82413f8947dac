using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;

namespace Mep.Silo.Auth;

/// <summary>
/// An issuer's keys by OIDC discovery (<c>{authority}/.well-known/openid-configuration</c> → <c>jwks_uri</c>), cached
/// and refreshed by IdentityModel's <see cref="ConfigurationManager{T}"/>. Wrapped so that the discovery document must
/// name the configured issuer (OIDC Discovery 1.0 section 4.3) and so that an unreachable issuer fails the request
/// with a reason rather than an internal error.
/// </summary>
internal sealed class DiscoveryConfigurationManager : IConfigurationManager<OpenIdConnectConfiguration>
{
    private readonly string issuer;
    private readonly ILogger logger;
    private readonly ConfigurationManager<OpenIdConnectConfiguration> inner;

    public DiscoveryConfigurationManager(string issuer, Uri authority, bool requireHttps, HttpClient http, ILogger logger)
    {
        this.issuer = issuer;
        this.logger = logger;
        var metadata = authority.AbsoluteUri.TrimEnd('/') + "/.well-known/openid-configuration";
        // RequireHttps also covers the jwks_uri the document points to.
        inner = new ConfigurationManager<OpenIdConnectConfiguration>(
            metadata, new OpenIdConnectConfigurationRetriever(), new HttpDocumentRetriever(http) { RequireHttps = requireHttps });
    }

    public async Task<OpenIdConnectConfiguration> GetConfigurationAsync(CancellationToken cancel)
    {
        OpenIdConnectConfiguration configuration;
        try
        {
            configuration = await inner.GetConfigurationAsync(cancel);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Issuer {Issuer}: discovery failed", issuer);
            throw new TokenRejectedException(TokenRejectedException.KeysUnavailable, e);
        }

        if (!string.Equals(configuration.Issuer, issuer, StringComparison.Ordinal))
        {
            logger.LogError("Issuer {Issuer}: the discovery document names issuer '{Named}' instead", issuer, configuration.Issuer);
            throw new TokenRejectedException(TokenRejectedException.KeysUnavailable);
        }

        return configuration;
    }

    public void RequestRefresh() => inner.RequestRefresh();
}
