using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Mep.Silo.Hosting;

/// <summary>
/// Which certificates a silo accepts from another silo: issued (through any intermediates) by a CA of
/// <c>Mep:Cluster:Tls:CaFile</c>, valid now, and good for both TLS roles, since every silo is a server to some peers
/// and a client of others. The system's trust store plays no part: a certificate from a public CA is no silo.
/// </summary>
public sealed class ClusterTrust
{
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2");

    private readonly X509Certificate2Collection roots;

    private ClusterTrust(string caFile, X509Certificate2Collection roots) => (CaFile, this.roots) = (caFile, roots);

    public string CaFile { get; }

    /// <summary>Subjects of the trusted CAs, for the start log.</summary>
    public IEnumerable<string> Subjects => roots.Select(c => c.Subject);

    /// <summary>Reads the CA file; throws <see cref="InvalidOperationException"/> naming the setting when it cannot.</summary>
    public static ClusterTrust Load(string caFile)
    {
        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(caFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new InvalidOperationException($"Mep:Cluster:Tls:CaFile '{caFile}' cannot be read: {e.Message.ReplaceLineEndings(" ")}", e);
        }

        return roots.Count == 0
            ? throw new InvalidOperationException($"Mep:Cluster:Tls:CaFile '{caFile}' holds no PEM certificate")
            : new ClusterTrust(caFile, roots);
    }

    /// <summary>Null when <paramref name="peer"/> is a silo's certificate; otherwise why not, for the log.</summary>
    public string? Problem(X509Certificate2 peer, X509Chain? presented = null)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        // A private CA publishes no revocation lists; a node's certificate is withdrawn by replacing the CA.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(ServerAuth);
        chain.ChainPolicy.ApplicationPolicy.Add(ClientAuth);
        if (presented is not null)
        {
            // Intermediates the peer sent along (the leaf itself is harmless here).
            chain.ChainPolicy.ExtraStore.AddRange(presented.ChainElements.Select(e => e.Certificate).ToArray());
        }

        if (chain.Build(peer))
        {
            return null;
        }

        var statuses = chain.ChainStatus.Select(s => s.Status).Distinct().ToList();
        var why = string.Join(", ", statuses);
        if (statuses.Contains(X509ChainStatusFlags.UntrustedRoot) || statuses.Contains(X509ChainStatusFlags.PartialChain))
        {
            return $"not issued by the CA in '{CaFile}' ({why})";
        }

        return statuses.Contains(X509ChainStatusFlags.NotValidForUsage)
            ? $"not valid for both serverAuth and clientAuth ({why}; `mep tls init` issues certificates with both)"
            : why;
    }
}
