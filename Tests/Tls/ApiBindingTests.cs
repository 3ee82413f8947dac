using Mep.Silo.Hosting;
using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.Tls;

/// <summary>The silo serves its API over https; plain http only on loopback, and anything else stops it at start.</summary>
public sealed class ApiBindingTests
{
    private static readonly ApiBindingValidator Validator = new();

    private static IEnumerable<string> Failures(string urls, string? certificate = null, string? key = null)
    {
        var settings = new SiloSettings { Api = { Urls = urls }, Tls = { CertificateFile = certificate, KeyFile = key } };
        return Validator.Validate(null, settings).Failures ?? [];
    }

    [Theory]
    [InlineData("http://127.0.0.1:8480")]
    [InlineData("http://localhost:8480")]
    [InlineData("http://[::1]:8480")]
    public void Plain_http_on_loopback_is_allowed(string url) => Assert.Empty(Failures(url));

    [Theory]
    [InlineData("http://0.0.0.0:8480")]
    [InlineData("http://10.0.0.11:8480")]
    [InlineData("http://127.0.0.1:8481;http://login1.example.org:8480")]
    public void Plain_http_anywhere_else_is_refused(string urls)
    {
        var failure = Assert.Single(Failures(urls));
        Assert.StartsWith("Mep:Api:Urls: plain http is served on loopback addresses only, not on 'http://", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Https_needs_the_certificate_and_key_files()
    {
        var failure = Assert.Single(Failures("https://0.0.0.0:8480"));
        Assert.StartsWith("Mep:Api:Urls serves https: set Mep:Tls:CertificateFile and Mep:Tls:KeyFile", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Https_with_a_certificate_and_its_key_is_accepted_and_a_mismatched_key_is_not()
    {
        var directory = Directory.CreateTempSubdirectory("mep-binding-").FullName;
        try
        {
            var first = TestCa.Create(Path.Combine(directory, "a"), keyOwner: null);
            var second = TestCa.Create(Path.Combine(directory, "b"), keyOwner: null);

            Assert.Empty(Failures("https://0.0.0.0:8480", first.CertificateFile, first.KeyFile));
            var failure = Assert.Single(Failures("https://0.0.0.0:8480", first.CertificateFile, second.KeyFile));
            Assert.Contains("cannot be loaded", failure, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task The_silo_refuses_a_plain_http_address_off_loopback_with_one_line()
    {
        var (exitCode, stderr, stdout) = await SiloStartRefusal.RunAsync("--Mep:RunAs=", "--Mep:Api:Urls=http://0.0.0.0:18480");

        Assert.Equal(2, exitCode);
        Assert.Equal(
            "mep-silo: Mep:Api:Urls: plain http is served on loopback addresses only, not on 'http://0.0.0.0:18480': use https:// with Mep:Tls:CertificateFile and Mep:Tls:KeyFile",
            stderr.TrimEnd('\n'));
        Assert.Equal("", stdout);
    }
}
