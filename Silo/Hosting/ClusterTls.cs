using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Connections.Security;

namespace Mep.Silo.Hosting;

/// <summary>
/// Mutual TLS on every Orleans connection of the silo (<c>Mep:Cluster:Tls</c>): silo to silo both ways and gateway
/// clients, with the certificate files read again when replaced and peers checked by <see cref="ClusterTrust"/>.
/// Orleans itself logs a refused handshake at debug level only, so a refusal is logged here, as a warning.
/// </summary>
public sealed partial class ClusterTls
{
    private readonly ServerCertificateFiles certificates;
    private readonly ClusterTrust trust;
    private readonly ILogger<ClusterTls> logger;

    public ClusterTls(IOptions<SiloSettings> settings, ILogger<ClusterTls> logger)
    {
        var tls = settings.Value.Cluster.Tls;
        certificates = new ServerCertificateFiles(tls.CertificateFile!, tls.KeyFile!);
        trust = ClusterTrust.Load(tls.CaFile!);
        this.logger = logger;
        Options = new TlsOptions
        {
            // Checked by Orleans at construction (it must allow clientAuth); later connections use the selectors.
            LocalCertificate = certificates.Current(),
            LocalServerCertificateSelector = (_, _) => certificates.Current(),
            LocalClientCertificateSelector = (_, _, _, _, _) => certificates.Current(),
            RemoteCertificateMode = RemoteCertificateMode.RequireCertificate,
            ClientCertificateMode = RemoteCertificateMode.RequireCertificate,
            RemoteCertificateValidation = Accept,
        };
    }

    /// <summary>The options both TLS middlewares share.</summary>
    public TlsOptions Options { get; }

    public string Describe() =>
        $"certificate {certificates.Current().Subject}, peers must chain to {string.Join("; ", trust.Subjects)} ('{trust.CaFile}')";

    // The policy errors SslStream reports are against the system's store and the (unset) host name: a silo's identity
    // is its CA, so the chain is built again against that CA alone.
    private bool Accept(X509Certificate2 peer, X509Chain? chain, SslPolicyErrors errors)
    {
        if (trust.Problem(peer, chain) is not { } problem)
        {
            return true;
        }

        LogRefused(logger, peer.Subject, peer.Thumbprint, peer.Issuer, problem);
        return false;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning,
        Message = "Refused a silo-to-silo TLS connection: the peer's certificate {Subject} (SHA-1 {Thumbprint}, issuer {Issuer}) is {Problem}")]
    private static partial void LogRefused(ILogger logger, string subject, string thumbprint, string issuer, string problem);
}

public static class ClusterTlsExtensions
{
    /// <summary>TLS on the silo's inbound, gateway and outbound connections (or a warning when it is turned off).</summary>
    public static ISiloBuilder UseMepClusterTls(this ISiloBuilder silo, ClusterTlsSettings settings)
    {
        silo.Services.AddHostedService<ClusterTlsStartLog>();
        if (!settings.Enabled)
        {
            return silo;
        }

        silo.Services.AddSingleton<ClusterTls>();
        return silo.Configure<SiloConnectionOptions>(connections =>
        {
            connections.ConfigureSiloInboundConnection(c => c.UseServerTls(c.ApplicationServices.GetRequiredService<ClusterTls>().Options));
            connections.ConfigureGatewayInboundConnection(c => c.UseServerTls(c.ApplicationServices.GetRequiredService<ClusterTls>().Options));
            connections.ConfigureSiloOutboundConnection(c => c.UseClientTls(c.ApplicationServices.GetRequiredService<ClusterTls>().Options));
        });
    }
}
