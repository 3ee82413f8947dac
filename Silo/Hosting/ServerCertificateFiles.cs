using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Mep.Silo.Hosting;

/// <summary>
/// Kestrel's source of the server certificate (<c>Mep:Tls:CertificateFile</c>, <c>KeyFile</c>). The files are read again
/// when either one changes, so a site replaces an expiring certificate without restarting the silo.
/// </summary>
public sealed class ServerCertificateFiles(string certificateFile, string keyFile)
{
    private readonly Lock gate = new();
    private (DateTime Certificate, DateTime Key) stamp;
    private X509Certificate2? current;

    /// <summary>The first certificate of the file with its private key.</summary>
    public static X509Certificate2 Load(string certificateFile, string keyFile) => X509Certificate2.CreateFromPemFile(certificateFile, keyFile);

    /// <summary>The certificate to present now: the files' latest version that loads (a half-replaced pair keeps the old one).</summary>
    public X509Certificate2 Current()
    {
        var now = (File.GetLastWriteTimeUtc(certificateFile), File.GetLastWriteTimeUtc(keyFile));
        lock (gate)
        {
            if (current is null || now != stamp)
            {
                try
                {
                    // The previous one is not disposed: handshakes in flight may still use it.
                    current = Load(certificateFile, keyFile);
                    stamp = now;
                }
                catch (Exception e) when (current is not null && e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
                {
                    // Keep serving the certificate that worked until the pair is complete again.
                }
            }

            return current;
        }
    }
}
