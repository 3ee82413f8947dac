namespace Mep.Silo.Hosting;

/// <summary>
/// TLS between silos and on the Orleans gateway (<c>Mep:Cluster:Tls:*</c>): every silo presents its certificate and
/// requires the peer's, both checked against the site's CA. On unless <see cref="Enabled"/> is set to false.
/// </summary>
public sealed class ClusterTlsSettings
{
    /// <summary>False: silo-to-silo and gateway traffic in clear (a private network only); the silo warns at start.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>This silo's certificate (PEM), usable for both serverAuth and clientAuth; intermediates may follow it.</summary>
    public string? CertificateFile { get; set; }

    /// <summary>Its private key (PEM, unencrypted); keep it 0600, the silo's account's.</summary>
    public string? KeyFile { get; set; }

    /// <summary>The CA certificates (PEM) a peer's certificate must chain to: the site's private CA, nothing else.</summary>
    public string? CaFile { get; set; }
}
