using Mep.Cli.Commands;
using Mep.Cli.Tls;
using Mep.Sdk;
using Mep.Tests.EndToEnd;

namespace Mep.Tests.Infrastructure;

/// <summary>
/// A test site's private CA and server certificate, made by the code behind <c>mep tls init</c> (as run.sh makes them),
/// and clients that trust that CA and nothing else.
/// </summary>
public sealed class TestCa
{
    private readonly TlsDirectory files;

    private TestCa(TlsDirectory files) => this.files = files;

    public string CaFile => files.CaCertificate;

    public string CertificateFile => files.ServerCertificate;

    public string KeyFile => files.ServerKey;

    public string Directory => files.Path;

    /// <summary>The CA and a server certificate in <paramref name="directory"/>; the key is given to <paramref name="keyOwner"/> (the silo's account).</summary>
    public static TestCa Create(string directory, string? keyOwner)
    {
        var files = new TlsDirectory(directory);
        files.Ensure(TlsCommands.DefaultNames());
        File.SetUnixFileMode(files.Path, (UnixFileMode)0b111_101_101);
        if (keyOwner is not null)
        {
            TestUser.Run("chown", [$"{keyOwner}:", files.ServerKey], allowFailure: false);
        }

        return new TestCa(files);
    }

    /// <summary>The silo's settings for its https addresses and for mutual TLS with the other silos (the same certificate).</summary>
    public IEnumerable<string> SiloArguments() =>
    [
        $"--Mep:Tls:CertificateFile={CertificateFile}", $"--Mep:Tls:KeyFile={KeyFile}",
        .. ClusterTlsArguments(),
    ];

    /// <summary>Silo-to-silo TLS with this CA's server certificate, trusting this CA only.</summary>
    public IEnumerable<string> ClusterTlsArguments() =>
        [$"--Mep:Cluster:Tls:CertificateFile={CertificateFile}", $"--Mep:Cluster:Tls:KeyFile={KeyFile}", $"--Mep:Cluster:Tls:CaFile={CaFile}"];

    /// <summary>A handler that trusts this CA only.</summary>
    public HttpMessageHandler Handler() => MepTls.CreateHandler(CaFile);

    /// <summary>An HTTP client that trusts this CA only.</summary>
    public HttpClient Client(Uri? baseAddress = null, TimeSpan? timeout = null)
    {
        var http = new HttpClient(Handler());
        http.BaseAddress = baseAddress;
        http.Timeout = timeout ?? TimeSpan.FromSeconds(100);
        return http;
    }
}
