using System.Net;
using System.Security.Authentication;
using Mep.Protocol.Tls;

namespace Mep.Sdk;

/// <summary>
/// How the SDK trusts a site's server certificate: the system's trust store, or a site's private CA named by
/// <see cref="CaFileVariable"/> (or given explicitly). Host names are always checked; verification cannot be turned off.
/// </summary>
public static class MepTls
{
    /// <summary>The environment variable naming a PEM file of CA certificates to trust instead of the system's.</summary>
    public const string CaFileVariable = "MEP_CA_FILE";

    /// <summary>A handler that trusts the CA certificates in <paramref name="caFile"/> only (null: the system's store).</summary>
    public static HttpMessageHandler CreateHandler(string? caFile) =>
        PrivateTrust.HttpHandler(string.IsNullOrWhiteSpace(caFile) ? null : PrivateTrust.Load(caFile, CaFileVariable));

    /// <summary>The handler for <see cref="CaFileVariable"/> as this process's environment sets it.</summary>
    public static HttpMessageHandler CreateHandlerFromEnvironment() => CreateHandler(Environment.GetEnvironmentVariable(CaFileVariable));

    /// <summary>A failed TLS handshake as one readable sentence naming the likely fix, or null when it was not one.</summary>
    internal static HttpRequestException? Explain(HttpRequestException e, Uri address)
    {
        if (e.InnerException is not AuthenticationException auth)
        {
            return null;
        }

        var hint = auth.Message.Contains("RemoteCertificateNameMismatch", StringComparison.Ordinal)
            ? $"the server's certificate does not name '{address.Host}': use a host name it was issued for"
            : $"if the site uses a private CA, set {CaFileVariable} to its CA certificate (PEM)";
        return new HttpRequestException(
            HttpRequestError.SecureConnectionError, $"TLS with {address.GetLeftPart(UriPartial.Authority)} failed: {auth.Message} ({hint})", e);
    }
}
