using System.Security.Authentication;
using Mep.Grains.Broker;
using Mep.Protocol.Tls;
using Mep.Tests.Infrastructure;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Xunit;

namespace Mep.Tests.Broker;

/// <summary>
/// The private broker speaks AMQPS and https only, and the silo's clients (AMQP connection, management API) verify its
/// certificate against the site's CA and its host name: a client that does not trust the CA gets nothing, and is told why.
/// </summary>
[Collection(RabbitMqCollection.Name)]
public sealed class BrokerTlsTests(RabbitMqNode node)
{
    private BrokerOptions Options(string? caFile) => new()
    {
        Host = node.Host,
        AmqpPort = node.AmqpPort,
        ManagementPort = node.ManagementPort,
        VirtualHost = "/",
        AdminUser = node.AdminUser,
        AdminPassword = node.AdminPassword,
        CaFile = caFile,
    };

    [Fact]
    public async Task The_silos_connection_trusting_the_CA_is_tls()
    {
        await using var connection = new BrokerConnection(Microsoft.Extensions.Options.Options.Create(Options(node.CaFile)));

        var amqp = await connection.GetAsync();

        Assert.True(amqp.IsOpen);
        Assert.True(amqp.Endpoint.Ssl.Enabled);
    }

    [Fact]
    public async Task Without_the_CA_the_silos_connection_is_refused_saying_why()
    {
        await using var connection = new BrokerConnection(Microsoft.Extensions.Options.Options.Create(Options(caFile: null)));

        var e = await Assert.ThrowsAsync<BrokerUnreachableException>(() => connection.GetAsync());

        var tls = Assert.IsType<AuthenticationException>(e.InnerException);
        Assert.Equal($"TLS with the broker {node.Host}:{node.AmqpPort} failed: the server's certificate is refused (RemoteCertificateChainErrors); "
            + "if a private CA issued it, give its CA file", tls.Message);
    }

    [Fact]
    public async Task A_certificate_that_does_not_name_the_host_is_refused_though_its_CA_is_trusted()
    {
        var check = new ServerCertificateCheck(PrivateTrust.Load(node.CaFile, "test CA"));
        var factory = new ConnectionFactory
        {
            HostName = node.Host,
            Port = node.AmqpPort,
            UserName = node.AdminUser,
            Password = node.AdminPassword,
            // As a client would that was sent to another broker's name but reached this one.
            Ssl = new SslOption { Enabled = true, ServerName = "mq.elsewhere.example.org", CertificateValidationCallback = check.Validate },
        };

        await Assert.ThrowsAsync<BrokerUnreachableException>(() => factory.CreateConnectionAsync());
        Assert.Equal("the server's certificate does not name the host connected to", check.Refusal);
    }

    [Fact]
    public async Task There_is_no_plain_amqp_listener()
    {
        var factory = new ConnectionFactory { HostName = node.Host, Port = node.AmqpPort, UserName = node.AdminUser, Password = node.AdminPassword };

        await Assert.ThrowsAsync<BrokerUnreachableException>(() => factory.CreateConnectionAsync());
    }

    [Fact]
    public async Task The_management_api_is_https_verified_against_the_CA()
    {
        using var trusting = new HttpClient(Options(node.CaFile).ManagementHandler());
        using var systemStore = new HttpClient(Options(caFile: null).ManagementHandler());

        await new BrokerAdmin(trusting, Microsoft.Extensions.Options.Options.Create(Options(node.CaFile))).PingAsync();
        var e = await Assert.ThrowsAnyAsync<Exception>(() => new BrokerAdmin(systemStore, Microsoft.Extensions.Options.Options.Create(Options(null))).PingAsync());

        Assert.Equal("https", Options(null).ManagementUri.Scheme);
        Assert.Contains("certificate", e.ToString(), StringComparison.Ordinal);
    }
}
