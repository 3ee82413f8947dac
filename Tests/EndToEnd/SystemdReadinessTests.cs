using System.Net.Sockets;
using System.Text;
using Xunit;

namespace Mep.Tests.EndToEnd;

/// <summary>
/// The real silo under a <c>Type=notify</c> unit's conditions: started with <c>NOTIFY_SOCKET</c> naming a datagram
/// socket (the fixture's, as systemd's would be), it sends READY=1 once it serves, after dropping to its service
/// account. systemd itself is not running here; the socket is.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class SystemdReadinessTests(SiteFixture site)
{
    [Fact]
    public async Task The_silo_sends_ready_to_the_notify_socket_once_it_serves()
    {
        // Every start of the silo so far sent its notifications into the socket; READY=1 must be among them.
        var received = new List<string>();
        var buffer = new byte[4096];
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!received.Any(m => m.Split('\n').Contains("READY=1")))
        {
            var n = await site.NotifySocket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
            received.Add(Encoding.UTF8.GetString(buffer, 0, n));
        }

        Assert.Contains("STATUS=serving", received.Last(), StringComparison.Ordinal);
        using var http = site.Tls.Client(site.ApiBase);
        Assert.Equal("ok", (await http.GetStringAsync("healthz")).Trim());
    }
}
