using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Mep.Protocol;
using Mep.Protocol.Launcher;

namespace Mep.Grains.Launching;

/// <summary>
/// Talks to mep-launcher over its Unix domain socket: one connection per request (nothing to keep alive or to
/// recover), one JSON line each way. Timeouts are the caller's cancellation token.
/// </summary>
public sealed class LauncherClient(string socketPath) : ILauncherClient
{
    public string SocketPath { get; } = socketPath;

    public async Task<int> StartAsync(string uepId, string username, string stdin, CancellationToken cancellationToken) =>
        (await StartAsync(uepId, username, stdin, limits: null, pamService: null, cancellationToken)).Pid!.Value;

    /// <summary>Starts the UEP through a PAM service (null: none asked); returns its pid.</summary>
    public async Task<int> StartAsync(string uepId, string username, string stdin, string? pamService, CancellationToken cancellationToken) =>
        (await StartAsync(uepId, username, stdin, limits: null, pamService, cancellationToken)).Pid!.Value;

    /// <summary>Starts the UEP with resource limits (null: the launcher's maxima); the answer has its pid.</summary>
    public Task<LauncherResponse> StartAsync(string uepId, string username, string stdin, UepResourceLimits? limits, CancellationToken cancellationToken) =>
        StartAsync(uepId, username, stdin, limits, pamService: null, cancellationToken);

    /// <summary>Starts the UEP with resource limits, through a PAM service; the answer has its pid.</summary>
    public async Task<LauncherResponse> StartAsync(
        string uepId, string username, string stdin, UepResourceLimits? limits, string? pamService, CancellationToken cancellationToken)
    {
        var response = await RequestAsync(
            new LauncherRequest(LauncherOp.Start, uepId, username, stdin, Limits: limits, Pam: pamService), cancellationToken);
        return response.Pid is not null
            ? response
            : throw new LauncherException("the launcher answered start without a pid", unavailable: true);
    }

    public async Task<int> StopAsync(string uepId, string signal, CancellationToken cancellationToken)
    {
        var response = await RequestAsync(new LauncherRequest(LauncherOp.Stop, uepId, Signal: signal), cancellationToken);
        return response.Pid ?? throw new LauncherException("the launcher answered stop without a pid", unavailable: true);
    }

    public async Task<IReadOnlyList<LauncherChild>> ListAsync(CancellationToken cancellationToken)
    {
        var response = await RequestAsync(new LauncherRequest(LauncherOp.List), cancellationToken);
        return response.Children ?? [];
    }

    public async IAsyncEnumerable<LauncherEvent> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var watch = await OpenWatchAsync(cancellationToken);
        await foreach (var exited in watch.ReadAllAsync(cancellationToken))
        {
            yield return exited;
        }
    }

    /// <summary>
    /// Subscribes and returns once the launcher acknowledged: every exit after this call returns is delivered.
    /// To reconcile after a reconnect, open the watch first and then call <see cref="ListAsync"/>.
    /// </summary>
    public async Task<LauncherWatch> OpenWatchAsync(CancellationToken cancellationToken)
    {
        var connection = await Connection.OpenAsync(SocketPath, cancellationToken);
        try
        {
            await connection.SendAsync(new LauncherRequest(LauncherOp.Watch), cancellationToken);
            var ack = await connection.ReceiveAsync<LauncherResponse>(cancellationToken);
            if (!ack.Ok)
            {
                throw new LauncherException(ack.Error ?? "the launcher refused to watch");
            }

            return new LauncherWatch(connection);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private async Task<LauncherResponse> RequestAsync(LauncherRequest request, CancellationToken cancellationToken)
    {
        var operation = request.Op.ToString().ToLowerInvariant();
        try
        {
            using var connection = await Connection.OpenAsync(SocketPath, cancellationToken);
            await connection.SendAsync(request, cancellationToken);
            var response = await connection.ReceiveAsync<LauncherResponse>(cancellationToken);
            Telemetry.MepMetrics.LauncherRequest(operation, response.Ok ? "ok" : "refused");
            return response.Ok ? response : throw new LauncherException(response.Error ?? "the launcher refused the request");
        }
        catch (Exception e) when (e is LauncherException { Unavailable: true } or OperationCanceledException)
        {
            Telemetry.MepMetrics.LauncherRequest(operation, "unavailable");
            throw;
        }
    }

    internal sealed class Connection(Socket socket) : IDisposable
    {
        private readonly NetworkStream stream = new(socket, ownsSocket: true);
        private StreamReader? reader;

        public static async Task<Connection> OpenAsync(string path, CancellationToken cancellationToken)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
                return new Connection(socket);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                var reason = e.SocketErrorCode switch
                {
                    SocketError.AddressNotAvailable => "no socket there (is the launcher running?)", // ENOENT
                    SocketError.ConnectionRefused => "nobody is listening (is the launcher running?)",
                    SocketError.AccessDenied => "permission denied (is this the launcher's client user?)",
                    _ => e.Message,
                };
                throw new LauncherException($"cannot reach the launcher at {path}: {reason}", unavailable: true, e);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        public async Task SendAsync(LauncherRequest request, CancellationToken cancellationToken)
        {
            try
            {
                await stream.WriteAsync(Encoding.UTF8.GetBytes(ProtocolJson.Serialize(request) + "\n"), cancellationToken);
            }
            catch (IOException e)
            {
                throw new LauncherException($"the launcher closed the connection: {e.Message}", unavailable: true, e);
            }
        }

        public async Task<T> ReceiveAsync<T>(CancellationToken cancellationToken)
        {
            reader ??= new StreamReader(stream, new UTF8Encoding(false), detectEncodingFromByteOrderMarks: false);
            string? line;
            try
            {
                line = await reader.ReadLineAsync(cancellationToken);
            }
            catch (IOException e)
            {
                throw new LauncherException($"the launcher closed the connection: {e.Message}", unavailable: true, e);
            }

            if (line is null)
            {
                throw new LauncherException("the launcher closed the connection", unavailable: true);
            }

            try
            {
                return ProtocolJson.Deserialize<T>(line);
            }
            catch (JsonException e)
            {
                throw new LauncherException($"the launcher sent an unreadable {typeof(T).Name}: {e.Message}", unavailable: true, e);
            }
        }

        public void Dispose()
        {
            reader?.Dispose();
            stream.Dispose();
        }
    }
}
