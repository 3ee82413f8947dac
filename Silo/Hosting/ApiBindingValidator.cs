using System.Security.Cryptography;
using Mep.Silo.Auth;
using Microsoft.Extensions.Options;

namespace Mep.Silo.Hosting;

/// <summary>
/// The API is served over https; plain http only when an address asks for it and then only on loopback (a reverse
/// proxy or a test on the same node), so no token or result ever crosses a network in clear. Messages name the setting.
/// </summary>
public sealed class ApiBindingValidator : IValidateOptions<SiloSettings>
{
    public ValidateOptionsResult Validate(string? name, SiloSettings options)
    {
        var errors = new List<string>();
        var urls = options.Api.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (urls.Length == 0)
        {
            errors.Add("Mep:Api:Urls names no address");
        }

        var https = false;
        foreach (var url in urls)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
            {
                errors.Add($"Mep:Api:Urls: '{url}' is not an https:// (or loopback http://) address with a host and port");
            }
            else if (uri.Scheme == Uri.UriSchemeHttps)
            {
                https = true;
            }
            else if (!TokenAuthOptionsValidator.IsLoopback(uri))
            {
                errors.Add($"Mep:Api:Urls: plain http is served on loopback addresses only, not on '{url}': use https:// with Mep:Tls:CertificateFile and Mep:Tls:KeyFile");
            }
        }

        if (https && CertificateProblem(options.Tls) is { } problem)
        {
            errors.Add(problem);
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static string? CertificateProblem(TlsSettings tls)
    {
        if (string.IsNullOrWhiteSpace(tls.CertificateFile) || string.IsNullOrWhiteSpace(tls.KeyFile))
        {
            return "Mep:Api:Urls serves https: set Mep:Tls:CertificateFile and Mep:Tls:KeyFile (PEM; `mep tls init DIR` makes a private CA and both)";
        }

        try
        {
            using var certificate = ServerCertificateFiles.Load(tls.CertificateFile, tls.KeyFile);
            return certificate.NotAfter < DateTime.Now
                ? $"Mep:Tls:CertificateFile '{tls.CertificateFile}' expired on {certificate.NotAfter.ToUniversalTime():u}"
                : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            return $"Mep:Tls:CertificateFile '{tls.CertificateFile}' and Mep:Tls:KeyFile '{tls.KeyFile}' cannot be loaded: {e.Message.ReplaceLineEndings(" ")}";
        }
    }
}
