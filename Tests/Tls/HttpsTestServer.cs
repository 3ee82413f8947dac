using System.Security.Cryptography.X509Certificates;
using Mep.Cli.Tls;
using Mep.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Mep.Tests.Tls;

/// <summary>
/// A real Kestrel on 127.0.0.1 serving https with a certificate a private CA issued for <c>names</c>, answering every
/// request with a problem+json 404 (enough for a client to show it got through), and the CA's file for clients.
/// </summary>
internal sealed class HttpsTestServer : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly string directory;
    private readonly X509Certificate2 certificate;

    private HttpsTestServer(WebApplication app, string directory, X509Certificate2 certificate, Uri address)
    {
        this.app = app;
        this.directory = directory;
        this.certificate = certificate;
        Address = address;
    }

    public Uri Address { get; }

    public string CaFile => Path.Combine(directory, "ca.pem");

    public static async Task<HttpsTestServer> StartAsync(params string[] names)
    {
        var directory = Directory.CreateTempSubdirectory("mep-tls-").FullName;
        using var ca = PrivateCa.CreateCa("MEP test CA");
        await File.WriteAllTextAsync(Path.Combine(directory, "ca.pem"), ca.ExportCertificatePem());
        var server = PrivateCa.IssueServer(ca, names);

        var builder = LoopbackWebHost.CreateBuilder();
        builder.WebHost.UseKestrelHttpsConfiguration(); // the slim builder leaves https out
        builder.WebHost.UseUrls("https://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.ConfigureHttpsDefaults(h => h.ServerCertificate = server));
        var app = builder.Build();
        app.Run(context =>
        {
            context.Response.StatusCode = 404;
            context.Response.ContentType = "application/problem+json";
            return context.Response.WriteAsync("""{"title":"Not found","status":404,"detail":"stand-in"}""");
        });
        await app.StartAsync();
        return new HttpsTestServer(app, directory, server, new Uri(app.BoundAddress() + "/"));
    }

    public async ValueTask DisposeAsync()
    {
        await app.DisposeAsync();
        certificate.Dispose();
        Directory.Delete(directory, recursive: true);
    }
}
