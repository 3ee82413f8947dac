using System.Security.Cryptography.X509Certificates;
using Mep.Tests.Cli;
using Xunit;

namespace Mep.Tests.Tls;

/// <summary><c>mep tls init</c>: the private CA and server certificate run.sh and the tests' sites use.</summary>
public sealed class TlsInitCommandTests : IDisposable
{
    private readonly string directory = Path.Combine(Directory.CreateTempSubdirectory("mep-tls-init-").FullName, "tls");

    [Fact]
    public async Task Keys_are_private_and_the_server_certificate_chains_to_the_CA_for_the_nodes_names()
    {
        var run = await CliRunner.RunAsync("tls", "init", directory, "--name", "login1.example.org", "--name", "10.0.0.11");

        Assert.Equal(0, run.ExitCode);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(directory, "ca.key")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(directory, "server.key")));
        using var ca = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(directory, "ca.pem")));
        using var server = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(directory, "server.pem")));
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        Assert.True(chain.Build(server), string.Join(", ", chain.ChainStatus.Select(s => s.Status)));
        var san = server.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Superset(new HashSet<string> { "localhost", System.Net.Dns.GetHostName(), "login1.example.org" }, san.EnumerateDnsNames().ToHashSet());
        Assert.Superset(new HashSet<string> { "127.0.0.1", "::1", "10.0.0.11" }, san.EnumerateIPAddresses().Select(a => a.ToString()).ToHashSet());
    }

    [Fact]
    public async Task The_server_certificate_serves_both_TLS_roles_and_one_with_serverAuth_only_is_issued_again()
    {
        await CliRunner.RunAsync("tls", "init", directory);
        var serverPem = Path.Combine(directory, "server.pem");
        using (var server = X509Certificate2.CreateFromPem(File.ReadAllText(serverPem)))
        {
            // A silo presents it to the other silos too (mutual TLS), so it must be a client certificate as well.
            var usages = server.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>();
            Assert.Equal(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], usages.Select(o => o.Value).Order());
        }

        // What `mep tls init` issued before silo-to-silo TLS: serverAuth only, from the same CA.
        using (var ca = X509Certificate2.CreateFromPemFile(Path.Combine(directory, "ca.pem"), Path.Combine(directory, "ca.key")))
        using (var key = System.Security.Cryptography.ECDsa.Create())
        {
            var request = new CertificateRequest("CN=localhost", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
            var san = new SubjectAlternativeNameBuilder();
            san.AddDnsName("localhost");
            san.AddDnsName(System.Net.Dns.GetHostName());
            san.AddIpAddress(System.Net.IPAddress.Loopback);
            san.AddIpAddress(System.Net.IPAddress.IPv6Loopback);
            request.CertificateExtensions.Add(san.Build());
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.1")], false));
            using var old = request.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(300), [1, 2, 3, 4]);
            File.WriteAllText(serverPem, old.ExportCertificatePem());
        }

        var again = await CliRunner.RunAsync("tls", "init", directory);

        Assert.StartsWith("issued server certificate", Assert.Single(again.StdoutLines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_run_keeps_what_serves_and_a_new_name_gets_a_new_certificate_from_the_same_CA()
    {
        await CliRunner.RunAsync("tls", "init", directory);
        var ca = File.ReadAllText(Path.Combine(directory, "ca.pem"));
        var first = File.ReadAllText(Path.Combine(directory, "server.pem"));

        var again = await CliRunner.RunAsync("tls", "init", directory);
        var renamed = await CliRunner.RunAsync("tls", "init", directory, "--name", "login2.example.org");

        Assert.StartsWith("kept server certificate", Assert.Single(again.StdoutLines), StringComparison.Ordinal);
        Assert.StartsWith("issued server certificate", Assert.Single(renamed.StdoutLines), StringComparison.Ordinal);
        Assert.Equal(ca, File.ReadAllText(Path.Combine(directory, "ca.pem")));
        Assert.NotEqual(first, File.ReadAllText(Path.Combine(directory, "server.pem")));
    }

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(directory)!, recursive: true);
}
