using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mep.Silo.Hosting;
using Mep.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Mep.Tests.Tls;

/// <summary><c>Mep:Cluster:Tls:*</c> at start: each wrong file is one line naming its setting, before any silo is refused.</summary>
public sealed class ClusterTlsSettingsTests : IDisposable
{
    private static readonly ClusterTlsValidator Validator = new();
    private readonly string directory = Directory.CreateTempSubdirectory("mep-cluster-tls-").FullName;

    private static IEnumerable<string> Failures(ClusterTlsSettings tls) =>
        Validator.Validate(null, new SiloSettings { Cluster = { Tls = tls } }).Failures ?? [];

    private static ClusterTlsSettings Files(TestCa node, TestCa? trusted = null, string? key = null) =>
        new() { CertificateFile = node.CertificateFile, KeyFile = key ?? node.KeyFile, CaFile = (trusted ?? node).CaFile };

    [Fact]
    public void On_by_default_and_then_all_three_files_are_needed()
    {
        var failure = Assert.Single(Failures(new ClusterTlsSettings()));
        Assert.StartsWith("Mep:Cluster:Tls:CertificateFile, Mep:Cluster:Tls:KeyFile, Mep:Cluster:Tls:CaFile not set:", failure, StringComparison.Ordinal);
        Assert.Contains("Mep:Cluster:Tls:Enabled=false", failure, StringComparison.Ordinal);
        Assert.Empty(Failures(new ClusterTlsSettings { Enabled = false }));
    }

    [Fact]
    public async Task Turned_off_the_silo_warns_at_start_that_grain_calls_travel_in_clear()
    {
        var settings = Microsoft.Extensions.Options.Options.Create(new SiloSettings { Cluster = { SiloPort = 11111, GatewayPort = 30000, Tls = { Enabled = false } } });
        var logger = new Broker.CapturingLogger<ClusterTlsStartLog>();
        using var services = new ServiceCollection().BuildServiceProvider();

        await new ClusterTlsStartLog(settings, services, logger).StartAsync(CancellationToken.None);

        var (level, message) = Assert.Single(logger.Entries);
        Assert.Equal(LogLevel.Warning, level);
        Assert.StartsWith("Silo-to-silo and gateway traffic (ports 11111, 30000) is NOT encrypted (Mep:Cluster:Tls:Enabled=false)", message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_node_certificate_of_the_CA_is_accepted_and_wrong_files_are_named()
    {
        var site = TestCa.Create(Path.Combine(directory, "site"), keyOwner: null);
        var other = TestCa.Create(Path.Combine(directory, "other"), keyOwner: null);

        Assert.Empty(Failures(Files(site)));
        Assert.StartsWith($"Mep:Cluster:Tls:CertificateFile '{other.CertificateFile}' would be refused by the other silos: not issued by the CA in '{site.CaFile}'",
            Assert.Single(Failures(Files(other, trusted: site))), StringComparison.Ordinal);
        Assert.StartsWith($"Mep:Cluster:Tls:CertificateFile '{site.CertificateFile}' and Mep:Cluster:Tls:KeyFile '{other.KeyFile}' cannot be loaded:",
            Assert.Single(Failures(Files(site, key: other.KeyFile))), StringComparison.Ordinal);
        var missing = Path.Combine(directory, "nowhere", "ca.pem");
        Assert.StartsWith($"Mep:Cluster:Tls:CaFile '{missing}' cannot be read:",
            Assert.Single(Failures(new ClusterTlsSettings { CertificateFile = site.CertificateFile, KeyFile = site.KeyFile, CaFile = missing })), StringComparison.Ordinal);
        Assert.Equal($"Mep:Cluster:Tls:CaFile '{site.KeyFile}' holds no PEM certificate",
            Assert.Single(Failures(new ClusterTlsSettings { CertificateFile = site.CertificateFile, KeyFile = site.KeyFile, CaFile = site.KeyFile })));
    }

    [Fact]
    public void A_server_only_certificate_is_refused_since_a_silo_is_also_a_client()
    {
        var site = TestCa.Create(Path.Combine(directory, "site"), keyOwner: null);
        using var ca = X509Certificate2.CreateFromPemFile(site.CaFile, Path.Combine(site.Directory, "ca.key"));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=login1", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var serverOnly = request.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(30), [7, 7, 7, 7]);
        var certificate = Path.Combine(directory, "server-only.pem");
        var privateKey = Path.Combine(directory, "server-only.key");
        File.WriteAllText(certificate, serverOnly.ExportCertificatePem());
        File.WriteAllText(privateKey, key.ExportPkcs8PrivateKeyPem());

        var failure = Assert.Single(Failures(new ClusterTlsSettings { CertificateFile = certificate, KeyFile = privateKey, CaFile = site.CaFile }));

        Assert.Contains("not valid for both serverAuth and clientAuth", failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_silo_stops_at_start_with_one_line_naming_an_unreadable_CA_file()
    {
        var site = TestCa.Create(Path.Combine(directory, "site"), keyOwner: null);
        var missing = Path.Combine(directory, "nowhere", "ca.pem");
        var (exitCode, stderr, stdout) = await SiloStartRefusal.RunAsync("--Mep:RunAs=", "--Mep:Api:Urls=http://127.0.0.1:18481",
            $"--Mep:Cluster:Tls:CertificateFile={site.CertificateFile}", $"--Mep:Cluster:Tls:KeyFile={site.KeyFile}", $"--Mep:Cluster:Tls:CaFile={missing}");

        Assert.Equal(2, exitCode);
        var line = Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.StartsWith($"mep-silo: Mep:Cluster:Tls:CaFile '{missing}' cannot be read:", line, StringComparison.Ordinal);
        Assert.Equal("", stdout);
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);
}
