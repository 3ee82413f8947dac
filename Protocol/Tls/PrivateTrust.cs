using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Mep.Protocol.Tls;

/// <summary>
/// Trust in a site's own CA (a PEM bundle, e.g. the one <c>mep tls init</c> makes): servers are verified against these
/// roots only, with the host name checked as always. Verification is never switched off; a client without a CA file
/// keeps the system's trust store.
/// </summary>
public sealed class PrivateTrust
{
    private PrivateTrust(X509Certificate2Collection roots, string path) => (Roots, Path) = (roots, path);

    /// <summary>The CA certificates trusted as roots.</summary>
    public X509Certificate2Collection Roots { get; }

    /// <summary>The file they came from, for messages.</summary>
    public string Path { get; }

    /// <summary>Loads the certificates of a PEM file; <paramref name="source"/> names the setting in errors.</summary>
    public static PrivateTrust Load(string path, string source)
    {
        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new InvalidOperationException($"{source} '{path}' cannot be read as PEM certificates: {e.Message}", e);
        }

        if (roots.Count == 0)
        {
            throw new InvalidOperationException($"{source} '{path}' holds no certificate (expected PEM 'BEGIN CERTIFICATE' blocks)");
        }

        return new PrivateTrust(roots, path);
    }

    /// <summary>A chain policy that accepts chains ending in one of <see cref="Roots"/> and nothing else.</summary>
    public X509ChainPolicy ChainPolicy()
    {
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            // A private CA publishes no revocation lists; a site that revokes replaces the server's key and certificate.
            RevocationMode = X509RevocationMode.NoCheck,
        };
        policy.CustomTrustStore.AddRange(Roots);
        policy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.1")); // serverAuth
        return policy;
    }

    /// <summary>
    /// For TLS clients that only offer a validation callback (RabbitMQ.Client): accepts the server when its name
    /// matched (<paramref name="errors"/> as SslStream reported them) and its chain ends in one of <see cref="Roots"/>.
    /// </summary>
    public bool Accepts(X509Certificate? certificate, SslPolicyErrors errors, out string reason)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            reason = "the server sent no certificate";
            return false;
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            reason = "the server's certificate does not name the host connected to";
            return false;
        }

        using var chain = new X509Chain { ChainPolicy = ChainPolicy() };
        using var leaf = new X509Certificate2(certificate);
        if (chain.Build(leaf))
        {
            reason = "";
            return true;
        }

        var status = string.Join(", ", chain.ChainStatus.Select(s => s.Status.ToString()).Distinct());
        reason = $"the server's certificate is not issued by the CA in '{Path}' ({status})";
        return false;
    }

    /// <summary>An HTTP handler that verifies servers against <paramref name="trust"/>'s CA, or the system's store when null.</summary>
    public static SocketsHttpHandler HttpHandler(PrivateTrust? trust)
    {
        var handler = new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1) };
        if (trust is not null)
        {
            handler.SslOptions.CertificateChainPolicy = trust.ChainPolicy();
        }

        return handler;
    }
}
