using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace Mep.Silo.Hosting;

/// <summary>
/// <c>Mep:Cluster:Tls:*</c> at start: the three files are set, readable, and the certificate is one the other silos
/// will accept (<see cref="ClusterTrust"/>), so that a wrong file is one line naming the setting, not a cluster whose
/// silos quietly refuse each other.
/// </summary>
public sealed class ClusterTlsValidator : IValidateOptions<SiloSettings>
{
    public ValidateOptionsResult Validate(string? name, SiloSettings options)
    {
        var tls = options.Cluster.Tls;
        if (!tls.Enabled)
        {
            return ValidateOptionsResult.Success;
        }

        var unset = new[] { (nameof(tls.CertificateFile), tls.CertificateFile), (nameof(tls.KeyFile), tls.KeyFile), (nameof(tls.CaFile), tls.CaFile) }
            .Where(s => string.IsNullOrWhiteSpace(s.Item2)).Select(s => $"Mep:Cluster:Tls:{s.Item1}").ToList();
        if (unset.Count > 0)
        {
            return ValidateOptionsResult.Fail(
                $"{string.Join(", ", unset)} not set: silos talk to each other over mutual TLS with this silo's certificate, its key and " +
                "the site's CA (PEM; `mep tls init DIR` makes them), or set Mep:Cluster:Tls:Enabled=false for plain text on a private network");
        }

        return Problem(tls) is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;
    }

    private static string? Problem(ClusterTlsSettings tls)
    {
        ClusterTrust trust;
        try
        {
            trust = ClusterTrust.Load(tls.CaFile!);
        }
        catch (InvalidOperationException e)
        {
            return e.Message;
        }

        try
        {
            using var certificate = ServerCertificateFiles.Load(tls.CertificateFile!, tls.KeyFile!);
            return trust.Problem(certificate) is { } why
                ? $"Mep:Cluster:Tls:CertificateFile '{tls.CertificateFile}' would be refused by the other silos: {why}"
                : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            return $"Mep:Cluster:Tls:CertificateFile '{tls.CertificateFile}' and Mep:Cluster:Tls:KeyFile '{tls.KeyFile}' cannot be loaded: {e.Message.ReplaceLineEndings(" ")}";
        }
    }
}
