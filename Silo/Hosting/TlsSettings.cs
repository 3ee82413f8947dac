namespace Mep.Silo.Hosting;

/// <summary>The silo's server certificate for its https addresses (<c>Mep:Tls:*</c>), PEM files the service account reads.</summary>
public sealed class TlsSettings
{
    /// <summary>The server certificate, optionally followed by the intermediate CA certificates that issued it.</summary>
    public string? CertificateFile { get; set; }

    /// <summary>Its private key (PKCS#8 or the algorithm's own PEM form, unencrypted); keep it 0600.</summary>
    public string? KeyFile { get; set; }
}
