using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Mep.Tests.EndToEnd;
using Mep.Tests.Infrastructure;
using Xunit;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.Cluster;

/// <summary>
/// Silo-to-silo and gateway traffic is mutual TLS against the site's CA (<c>Mep:Cluster:Tls</c>): the ports speak
/// nothing in clear, accept only certificates of that CA, and a silo holding another CA's certificate cannot join.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterTlsTests(ClusterFixture cluster)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    // The ALPN name Orleans' TLS layer offers and requires.
    private static readonly SslApplicationProtocol OrleansProtocol = new("Orleans1");

    [Fact]
    public async Task Silo_and_gateway_ports_answer_clear_text_with_nothing_and_TLS_only_with_a_certificate_of_the_sites_CA()
    {
        await cluster.StartDownNodesAsync();
        var node = cluster.Nodes[0];
        var foreign = TestCa.Create(Path.Combine(cluster.Root, "tls-foreign-probe"), keyOwner: null);
        foreach (var port in new[] { node.SiloPort, node.GatewayPort })
        {
            // A plain client's first bytes (what a silo without TLS would send): no Orleans preamble comes back, at most a TLS alert.
            var answer = await ClearTextAnswerAsync(port);
            Assert.True(answer.Length == 0 || answer[0] == 0x15, $"port {port} answered clear text with {Convert.ToHexString(answer)}");
            Assert.DoesNotContain("Orleans", Encoding.Latin1.GetString(answer), StringComparison.OrdinalIgnoreCase);

            // With this site's node certificate: Orleans' TLS, 1.2 or later, both sides authenticated, the silo's certificate from our CA.
            await using (var tls = await TlsAsync(port, cluster.Tls))
            {
                Assert.True(tls.IsMutuallyAuthenticated);
                Assert.Equal(OrleansProtocol, tls.NegotiatedApplicationProtocol);
                Assert.True(tls.SslProtocol is SslProtocols.Tls12 or SslProtocols.Tls13, $"{tls.SslProtocol}");
                Assert.Equal(X509Certificate2.CreateFromPem(File.ReadAllText(cluster.Tls.CertificateFile)).Thumbprint,
                    ((X509Certificate2)tls.RemoteCertificate!).Thumbprint);
            }

            // Another CA's certificate: the silo ends the connection (with TLS 1.3 the client learns it on its first read).
            await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                await using var refused = await TlsAsync(port, foreign, trustServerFrom: cluster.Tls);
                var buffer = new byte[1];
                using var timeout = new CancellationTokenSource(Deadline);
                if (await refused.ReadAsync(buffer, timeout.Token) == 0)
                {
                    throw new IOException("closed");
                }
            });
        }

        await Poll.UntilTrue(() => Task.FromResult(RefusalOf(node.Silo!.Output, foreign)), Deadline,
            () => $"no refusal of the foreign certificate logged:\n{node.Diagnostics()}");
    }

    [Fact]
    public async Task A_silo_with_another_CAs_certificate_cannot_join_and_the_cluster_keeps_working()
    {
        await cluster.StartDownNodesAsync();
        var foreign = TestCa.Create(Path.Combine(cluster.Root, "tls-foreign-node"), ClusterFixture.ServiceAccount);
        var intruder = new ClusterNode(cluster, "node-foreign", Path.Combine(cluster.Root, "node-foreign"),
            [.. foreign.SiloArguments()]);
        try
        {
            await intruder.StartProcessesAsync();

            // It refuses the cluster's silos (their certificates are not from its CA), saying so; they never let it in.
            await Poll.UntilTrue(() => Task.FromResult(RefusalOf(intruder.Silo!.Output, cluster.Tls)), TimeSpan.FromSeconds(120),
                () => $"the foreign silo logged no refusal:\n{intruder.Diagnostics()}");
            Assert.Equal(0L, await cluster.Database.ScalarAsync(
                $"SELECT count(*) FROM mep_cluster_member WHERE silo_name = 'node-foreign' AND status = {ActiveStatus}"));

            // Meanwhile tasks go through one node and are read through another.
            using var viaA = cluster.ClientFor(2, cluster.Nodes[0]);
            using var viaB = cluster.ClientFor(2, cluster.Nodes[1]);
            var function = await ClusterTasks.RegisterEchoAsync(viaA);
            var submitted = await ClusterTasks.SubmitNumberedAsync(viaA, function, 0, 2);
            var done = await ClusterTasks.WaitUntilDoneAsync(viaB, submitted.TaskIds, TimeSpan.FromMinutes(3), cluster.Diagnostics);
            Assert.All(done.Values, v => Assert.Equal(ApiTaskStatus.Success, v.Status));
            Assert.Equal(0L, await cluster.Database.ScalarAsync(
                $"SELECT count(*) FROM mep_cluster_member WHERE silo_name = 'node-foreign' AND status = {ActiveStatus}"));
            Assert.True(cluster.Nodes.All(n => n.IsUp), cluster.Diagnostics());
        }
        finally
        {
            await intruder.KillAsync();
        }
    }

    // Orleans' SiloStatus.Active, as the membership table stores it.
    private const int ActiveStatus = 3;

    /// <summary>Whether <paramref name="output"/> has the silo's refusal of the node certificate of <paramref name="ca"/>.</summary>
    private static bool RefusalOf(string output, TestCa ca)
    {
        var thumbprint = X509Certificate2.CreateFromPem(File.ReadAllText(ca.CertificateFile)).Thumbprint;
        return output.Split('\n').Any(line => line.Contains("Refused a silo-to-silo TLS connection", StringComparison.Ordinal)
            && line.Contains(thumbprint, StringComparison.Ordinal) && line.Contains("not issued by the CA", StringComparison.Ordinal));
    }

    private static async Task<byte[]> ClearTextAnswerAsync(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        var stream = tcp.GetStream();
        var hello = new byte[64];
        BitConverter.GetBytes(60).CopyTo(hello, 0);
        Encoding.ASCII.GetBytes("Orleans preamble Mep.Grains.IUserEndpointGrain").CopyTo(hello, 4);
        await stream.WriteAsync(hello);
        var received = new MemoryStream();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(Deadline);
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                received.Write(buffer, 0, n);
            }
        }
        catch (IOException)
        {
            // Reset by the silo: refused, which is the point.
        }

        // A silo still waiting after the deadline would fail the test through the cancellation instead.
        return received.ToArray();
    }

    private static async Task<SslStream> TlsAsync(int port, TestCa client, TestCa? trustServerFrom = null)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        var certificate = X509Certificate2.CreateFromPemFile(client.CertificateFile, client.KeyFile);
        var ca = X509Certificate2.CreateFromPem(File.ReadAllText((trustServerFrom ?? client).CaFile));
        var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
        using var timeout = new CancellationTokenSource(Deadline);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "127.0.0.1",
            ApplicationProtocols = [OrleansProtocol],
            LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate,
            CertificateChainPolicy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                CustomTrustStore = { ca },
                RevocationMode = X509RevocationMode.NoCheck,
            },
        }, timeout.Token);
        return tls;
    }
}
