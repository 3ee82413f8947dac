using System.Net.Sockets;
using System.Text;
using Mep.Silo.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Mep.Tests.Hosting;

/// <summary>sd_notify as systemd's notify socket receives it: a real datagram socket, a real host starting and
/// stopping. READY=1 only once the host has started, STOPPING=1 when it stops; both a path and an abstract name work.</summary>
public sealed class SystemdNotifierTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Ready_after_start_and_stopping_at_shutdown(bool abstractName)
    {
        var dir = Directory.CreateTempSubdirectory("mep-notify-").FullName;
        var name = abstractName ? $"@mep-notify-{Guid.NewGuid():N}" : Path.Combine(dir, "notify.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(abstractName ? "\0" + name[1..] : name));
        var gate = new TaskCompletionSource();

        using var host = new HostBuilder()
            .ConfigureServices(services =>
            {
                // Starts after the notifier and holds the start back: READY=1 must wait for every service.
                services.AddHostedService(sp => new SystemdNotifier(
                    sp.GetRequiredService<IHostApplicationLifetime>(), NullLogger<SystemdNotifier>.Instance, name));
                services.AddHostedService(_ => new GatedService(gate.Task));
            })
            .Build();
        var starting = host.StartAsync();
        Assert.False(listener.Poll(TimeSpan.FromMilliseconds(200), SelectMode.SelectRead), "READY=1 before every service had started");

        gate.SetResult();
        await starting;
        Assert.Equal("READY=1\nSTATUS=serving", await ReceiveAsync(listener));

        await host.StopAsync();
        Assert.StartsWith("STOPPING=1\n", await ReceiveAsync(listener), StringComparison.Ordinal);
        Directory.Delete(dir, recursive: true);
    }

    private static async Task<string> ReceiveAsync(Socket listener)
    {
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var n = await listener.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    private sealed class GatedService(Task gate) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => gate;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
