using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Text.Json;
using Mep.Protocol;
using Mep.Protocol.Launcher;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mep.Launcher;

/// <summary>
/// Serves the launcher protocol on a Unix domain socket: checks the peer's uid (SO_PEERCRED) on every connection,
/// then answers one JSON request per line. A watch request turns the connection into a stream of exit events.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class SocketServer(
    IOptions<LauncherOptions> options,
    LauncherIdentity identity,
    RequestValidator validator,
    ChildSupervisor supervisor,
    Pam.PamPolicy pam,
    ILogger<SocketServer> logger) : BackgroundService
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;

    private readonly LauncherOptions options = options.Value;
    private Socket? listener;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // Bind before the host reports started, so a bad socket path fails the start instead of a background task.
        listener = Listen();
        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        listener?.Dispose();
        TryDelete(options.SocketPath);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var socket = listener!;
        while (!stoppingToken.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await socket.AcceptAsync(stoppingToken);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException
                || (e is SocketException && stoppingToken.IsCancellationRequested))
            {
                break;
            }
            catch (SocketException e)
            {
                // For example EMFILE: keep serving the connections we have and try again.
                logger.LogError("Accept failed: {Reason}", e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(100), stoppingToken);
                continue;
            }

            _ = ServeAsync(connection, stoppingToken);
        }
    }

    private Socket Listen()
    {
        var path = options.SocketPath;
        PrepareSocketPath(path);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));

            // Nobody can connect before Listen, so owner and mode are right before the first client arrives.
            var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            if (identity.IsRoot && identity.Client is { } client)
            {
                if (Native.LChown(path, 0, client.Gid) != 0)
                {
                    throw new IOException($"cannot give {path} to group {client.Gid}: {Marshal.GetLastPInvokeErrorMessage()}");
                }

                mode |= UnixFileMode.GroupRead | UnixFileMode.GroupWrite;
            }

            File.SetUnixFileMode(path, mode);
            socket.Listen(64);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        logger.LogInformation(
            "Listening on {SocketPath} as {Self} (uid {SelfUid}); clients: {Clients}; UEP program {UepProgram}",
            path, identity.Self.Name, identity.Self.Uid,
            identity.IsRoot ? (identity.Client is { } c ? $"root and {c.Name} (uid {c.Uid})" : "root only") : "own uid only (personal launcher)",
            options.UepProgram);
        return socket;
    }

    private void PrepareSocketPath(string path)
    {
        var directory = Path.GetDirectoryName(path)!;
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }

        // As root, a directory others can write to would let them swap the socket for something else.
        var directoryStatus = Native.Stat(directory, followLinks: true)!.Value;
        if (identity.IsRoot && (directoryStatus.Uid != 0 || directoryStatus.WritableByGroupOrOthers))
        {
            throw new InvalidOperationException(
                $"socket directory {directory} must be owned by root and not writable by group or others");
        }

        if (Native.Stat(path, followLinks: false) is not { } existing)
        {
            return;
        }

        if (!existing.IsSocket)
        {
            throw new InvalidOperationException($"{path} exists and is not a socket; refusing to remove it");
        }

        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
            }
            catch (SocketException)
            {
                File.Delete(path);
                logger.LogInformation("Removed stale socket {SocketPath}", path);
                return;
            }
        }

        throw new InvalidOperationException($"another launcher is already listening on {path}");
    }

    private async Task ServeAsync(Socket socket, CancellationToken stoppingToken)
    {
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        var reader = new RequestLineReader(stream, options.MaxRequestBytes);
        PeerCredentials peer = default;
        try
        {
            peer = ReadPeerCredentials(socket);
            if (!identity.MayConnect(peer.Uid))
            {
                logger.LogWarning("Refused connection from pid {PeerPid} uid {PeerUid}: not an allowed client",
                    peer.Pid, peer.Uid);

                // Read the request first so a well-behaved client gets the answer instead of a broken pipe.
                await ReadRequestLineAsync(reader, stoppingToken);
                await WriteLineAsync(stream, new LauncherResponse(false, $"uid {peer.Uid} may not use this launcher"), stoppingToken);
                return;
            }

            while (await ReadRequestLineAsync(reader, stoppingToken) is { } line)
            {
                LauncherRequest request;
                try
                {
                    request = ProtocolJson.Deserialize(line, ProtocolJsonContext.Default.LauncherRequest);
                }
                catch (JsonException e)
                {
                    logger.LogWarning("Malformed request from pid {PeerPid} uid {PeerUid}: {Reason}", peer.Pid, peer.Uid, e.Message);
                    await WriteLineAsync(stream, new LauncherResponse(false, $"malformed request: {ChildSupervisor.OneLine(e.Message)}"), stoppingToken);
                    return;
                }

                if (request.Op == LauncherOp.Watch)
                {
                    await WatchAsync(stream, reader, request, peer, stoppingToken);
                    return;
                }

                await WriteLineAsync(stream, Handle(request, peer), stoppingToken);
            }
        }
        catch (RequestTooLargeException e)
        {
            logger.LogWarning("Refused request from pid {PeerPid} uid {PeerUid}: {Reason}", peer.Pid, peer.Uid, e.Message);
            await TryWriteLineAsync(stream, new LauncherResponse(false, e.Message));
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // Timeout, shutdown, or the client went away: nothing to answer.
        }
        catch (Exception e)
        {
            logger.LogError(e, "Connection from pid {PeerPid} uid {PeerUid} failed", peer.Pid, peer.Uid);
            await TryWriteLineAsync(stream, new LauncherResponse(false, "internal launcher error"));
        }
    }

    private LauncherResponse Handle(LauncherRequest request, PeerCredentials peer)
    {
        try
        {
            switch (request.Op)
            {
                case LauncherOp.Start:
                    // PAM's account check runs here, before anything is spawned: a refusal is the answer.
                    var started = supervisor.Start(pam.Authorize(validator.ValidateStart(request), request.Pam), peer);
                    return new LauncherResponse(true, Pid: started.Pid, ResourceControl: started.ResourceControl);
                case LauncherOp.Stop:
                    return new LauncherResponse(true, Pid: supervisor.Stop(validator.ValidateStop(request), peer));
                case LauncherOp.List:
                    validator.ValidateNoArguments(request);
                    return new LauncherResponse(true, Children: supervisor.List());
                default:
                    throw new RequestRefusedException($"unknown op {(int)request.Op}");
            }
        }
        catch (RequestRefusedException e)
        {
            logger.LogWarning(
                "Refused {Op} of UEP {UepId} as {Username}, asked by pid {PeerPid} uid {PeerUid}: {Reason}",
                request.Op, RequestValidator.Quote(request.UepId ?? ""), RequestValidator.Quote(request.Username ?? ""),
                peer.Pid, peer.Uid, e.Message);
            return new LauncherResponse(false, e.Message);
        }
    }

    private async Task WatchAsync(
        NetworkStream stream, RequestLineReader reader, LauncherRequest request, PeerCredentials peer, CancellationToken stoppingToken)
    {
        try
        {
            validator.ValidateNoArguments(request);
        }
        catch (RequestRefusedException e)
        {
            await WriteLineAsync(stream, new LauncherResponse(false, e.Message), stoppingToken);
            return;
        }

        var events = supervisor.Watch();
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        try
        {
            // The acknowledgement tells the client that every exit from now on will reach it.
            await WriteLineAsync(stream, new LauncherResponse(true), ended.Token);
            logger.LogInformation("Watcher connected: pid {PeerPid} uid {PeerUid}", peer.Pid, peer.Uid);

            // The client sends nothing more; end of stream (or anything else) ends the watch.
            _ = Task.Run(async () =>
            {
                try
                {
                    await reader.ReadLineAsync(ended.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or IOException or SocketException
                    or ObjectDisposedException or RequestTooLargeException)
                {
                    // Either way the watch is over.
                }
                finally
                {
                    await ended.CancelAsync();
                }
            }, CancellationToken.None);

            await foreach (var exited in events.Reader.ReadAllAsync(ended.Token))
            {
                await WriteLineAsync(stream, exited, ended.Token);
            }
        }
        finally
        {
            await ended.CancelAsync();
            supervisor.Unwatch(events);
            logger.LogInformation("Watcher gone: pid {PeerPid} uid {PeerUid}", peer.Pid, peer.Uid);
        }
    }

    private async Task<byte[]?> ReadRequestLineAsync(RequestLineReader reader, CancellationToken stoppingToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(options.RequestTimeout);
        return await reader.ReadLineAsync(timeout.Token);
    }

    private static async Task WriteLineAsync<T>(Stream stream, T message, CancellationToken cancellationToken)
    {
        // The source-generated metadata of T (a response or an event): no reflection in the Native AOT launcher.
        var json = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(message, typeof(T), ProtocolJsonContext.Default);
        var line = new byte[json.Length + 1];
        json.CopyTo(line, 0);
        line[^1] = (byte)'\n';
        await stream.WriteAsync(line, cancellationToken);
    }

    private static async Task TryWriteLineAsync<T>(Stream stream, T message)
    {
        try
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await WriteLineAsync(stream, message, limit.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // The client is gone.
        }
    }

    private static PeerCredentials ReadPeerCredentials(Socket socket)
    {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }, filled in by the kernel at connect time.
        Span<byte> ucred = stackalloc byte[12];
        var length = socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred);
        if (length != ucred.Length)
        {
            throw new SocketException((int)SocketError.ProtocolNotSupported);
        }

        return new PeerCredentials(
            MemoryMarshal.Read<int>(ucred),
            MemoryMarshal.Read<uint>(ucred[4..]),
            MemoryMarshal.Read<uint>(ucred[8..]));
    }

    private static void TryDelete(string path)
    {
        try
        {
            if (Native.Stat(path, followLinks: false) is { IsSocket: true })
            {
                File.Delete(path);
            }
        }
        catch (IOException)
        {
            // Removed at the next start as a stale socket.
        }
    }
}
