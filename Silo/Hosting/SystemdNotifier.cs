using System.Net.Sockets;
using System.Text;

namespace Mep.Silo.Hosting;

/// <summary>
/// sd_notify for <c>Type=notify</c> units: READY=1 once the host has started (the Orleans silo has joined its cluster
/// and Kestrel listens), STOPPING=1 when shutdown begins. systemd then orders <c>After=mep-silo.service</c> units on
/// real readiness and knows a slow stop from a hang. Without <c>NOTIFY_SOCKET</c> (not under systemd) it does nothing.
/// </summary>
/// <param name="socketPath">Where to send the notifications; by default systemd's <c>NOTIFY_SOCKET</c>.</param>
internal sealed class SystemdNotifier(IHostApplicationLifetime lifetime, ILogger<SystemdNotifier> logger, string? socketPath = null) : IHostedService
{
    public const string SocketVariable = "NOTIFY_SOCKET";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if ((socketPath ?? Environment.GetEnvironmentVariable(SocketVariable)) is { Length: > 0 } path)
        {
            lifetime.ApplicationStarted.Register(() => Notify(path, "READY=1\nSTATUS=serving"));
            lifetime.ApplicationStopping.Register(() => Notify(path, "STOPPING=1\nSTATUS=leaving the cluster"));
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void Notify(string path, string message)
    {
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            // A leading '@' names a socket in the abstract namespace: its address starts with a NUL byte instead.
            var endpoint = new UnixDomainSocketEndPoint(path[0] == '@' ? "\0" + path[1..] : path);
            socket.SendTo(Encoding.UTF8.GetBytes(message), endpoint);
        }
        catch (SocketException e)
        {
            // Readiness is then judged by the unit's timeout: worth a warning, not a failed start.
            logger.LogWarning("Could not notify systemd at {Socket}: {Message}", path, e.Message);
        }
    }
}
