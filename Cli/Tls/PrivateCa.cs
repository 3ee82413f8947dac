using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Mep.Cli.Tls;

/// <summary>
/// A site's private CA for development and tests (<c>mep tls init</c>): a P-256 CA certificate and a server
/// certificate it issued for the node's names, as PEM files. Private keys are written 0600 from the moment they exist.
/// </summary>
internal static class PrivateCa
{
    public const UnixFileMode KeyMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode PublicMode = KeyMode | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>A server certificate is issued again when it has less than this left.</summary>
    public static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);

    private const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuth = "1.3.6.1.5.5.7.3.2";

    private static readonly TimeSpan CaLifetime = TimeSpan.FromDays(3650);

    // 397 days: the longest lifetime browsers accept for a server certificate, so a site may reuse the files anywhere.
    private static readonly TimeSpan ServerLifetime = TimeSpan.FromDays(397);

    /// <summary>Creates the CA's key and certificate.</summary>
    public static X509Certificate2 CreateCa(string commonName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={commonName}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddMinutes(-5), now.Add(CaLifetime));
    }

    /// <summary>
    /// A node certificate for <paramref name="names"/>, with its private key: serverAuth for the API and the broker, and
    /// clientAuth too, since a silo presents the same certificate when it connects to the other silos (mutual TLS).
    /// </summary>
    public static X509Certificate2 IssueServer(X509Certificate2 ca, IReadOnlyCollection<string> names, TimeSpan? lifetime = null)
    {
        if (names.Count == 0)
        {
            throw new ArgumentException("a server certificate needs at least one name", nameof(names));
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={names.First()}"), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
        {
            if (IPAddress.TryParse(name, out var ip))
            {
                san.AddIpAddress(ip);
            }
            else
            {
                san.AddDnsName(name);
            }
        }

        request.CertificateExtensions.Add(san.Build(critical: false));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ServerAuth), new Oid(ClientAuth)], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));

        var now = DateTimeOffset.UtcNow;
        var notAfter = now.Add(lifetime ?? ServerLifetime);
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f; // a positive serial number
        using var signer = ca.GetECDsaPrivateKey() ?? throw new InvalidOperationException("the CA certificate has no ECDSA private key");
        using var issued = request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(signer), now.AddMinutes(-5),
            notAfter < ca.NotAfter ? notAfter : ca.NotAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>
    /// Whether <paramref name="server"/> was issued by <paramref name="ca"/>, names every one of <paramref name="names"/>
    /// is good for both serverAuth and clientAuth (certificates made before silo-to-silo TLS had serverAuth only) and is
    /// valid for longer than <see cref="RenewBefore"/>: otherwise <c>mep tls init</c> issues a new one.
    /// </summary>
    public static bool StillServes(X509Certificate2 server, X509Certificate2 ca, IEnumerable<string> names)
    {
        if (server.NotAfter.ToUniversalTime() - DateTime.UtcNow < RenewBefore)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ServerAuth));
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ClientAuth));
        if (!chain.Build(server))
        {
            return false;
        }

        var san = server.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
        if (san is null)
        {
            return false;
        }

        var dns = san.EnumerateDnsNames().ToHashSet(StringComparer.OrdinalIgnoreCase);
        var ips = san.EnumerateIPAddresses().ToHashSet();
        return names.All(n => IPAddress.TryParse(n, out var ip) ? ips.Contains(ip) : dns.Contains(n));
    }
}
