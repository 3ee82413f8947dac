using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Mep.Protocol.Launcher;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mep.Launcher;

/// <summary>The credentials of the process at the other end of a connection, from SO_PEERCRED.</summary>
public readonly record struct PeerCredentials(int Pid, uint Uid, uint Gid);

/// <summary>
/// Starts UEP processes (one per UEP id), watches them and tells every watcher when one exits.
/// A hosted service only so that stopping the launcher also stops its children instead of orphaning them.
/// </summary>
public sealed class ChildSupervisor(
    IOptions<LauncherOptions> options,
    ILogger<ChildSupervisor> logger,
    TimeProvider time) : IHostedService
{
    private static readonly TimeSpan StderrDrainLimit = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan StdinWriteLimit = TimeSpan.FromSeconds(60);
    private const int WatcherBacklog = 4096;

    private readonly LauncherOptions options = options.Value;
    private readonly Dictionary<string, Child> children = new(StringComparer.Ordinal);
    private readonly List<Channel<LauncherEvent>> watchers = [];
    private readonly Lock gate = new();

    private sealed record Child(string UepId, UnixUser User, Process Process, int Pid, DateTimeOffset StartedAt, StderrTail Tail);

    /// <summary>Starts the UEP, or returns the pid of the one already running for this id and user.</summary>
    public int Start(StartCommand command, PeerCredentials peer)
    {
        lock (gate)
        {
            if (children.TryGetValue(command.UepId, out var existing))
            {
                if (existing.User.Name != command.User.Name)
                {
                    throw new RequestRefusedException(
                        $"uep {command.UepId} is already running as user '{existing.User.Name}'");
                }

                logger.LogInformation(
                    "UEP {UepId} already running as {Username} (pid {ChildPid}); start from pid {PeerPid} uid {PeerUid} is a no-op",
                    command.UepId, existing.User.Name, existing.Pid, peer.Pid, peer.Uid);
                return existing.Pid;
            }

            Process process;
            try
            {
                process = Process.Start(BuildStartInfo(command))
                    ?? throw new InvalidOperationException("no process was started");
            }
            catch (Exception e) when (e is Win32Exception or IOException or InvalidOperationException)
            {
                throw new RequestRefusedException(
                    $"cannot start the UEP program as user '{command.User.Name}': {OneLine(e.Message)}");
            }

            var child = new Child(command.UepId, command.User, process, process.Id, time.GetUtcNow(),
                new StderrTail(options.StderrTailLines));
            children.Add(command.UepId, child);
            logger.LogInformation(
                "Started UEP {UepId} as {Username} (uid {Uid}) with pid {ChildPid}, asked by pid {PeerPid} uid {PeerUid}",
                command.UepId, command.User.Name, command.User.Uid, child.Pid, peer.Pid, peer.Uid);
            _ = WriteStdinAsync(child, command.Stdin);
            _ = SuperviseAsync(child);
            return child.Pid;
        }
    }

    /// <summary>Sends the signal to the UEP's process and returns its pid; its exit is reported to watchers.</summary>
    public int Stop(StopCommand command, PeerCredentials peer)
    {
        lock (gate)
        {
            if (!children.TryGetValue(command.UepId, out var child))
            {
                throw new RequestRefusedException($"uep {command.UepId} is not running");
            }

            // Once .NET has reaped the child its pid may be reused: signal only while it is still ours.
            if (!child.Process.HasExited && Native.Kill(child.Pid, command.Signal) != 0)
            {
                logger.LogWarning("Signal {Signal} to pid {ChildPid} failed: errno {Errno}",
                    command.SignalName, child.Pid, System.Runtime.InteropServices.Marshal.GetLastPInvokeError());
            }

            logger.LogInformation(
                "Sent {Signal} to UEP {UepId} ({Username}, pid {ChildPid}), asked by pid {PeerPid} uid {PeerUid}",
                command.SignalName, command.UepId, child.User.Name, child.Pid, peer.Pid, peer.Uid);
            return child.Pid;
        }
    }

    public IReadOnlyList<LauncherChild> List()
    {
        lock (gate)
        {
            return children.Values
                .Select(c => new LauncherChild(c.UepId, c.User.Name, (int)c.User.Uid, c.Pid, c.StartedAt))
                .OrderBy(c => c.StartedAt)
                .ToList();
        }
    }

    /// <summary>Subscribes to exit events until the returned reader's owner calls <see cref="Unwatch"/>.</summary>
    public Channel<LauncherEvent> Watch()
    {
        // Bounded so that a watcher that stops reading cannot make root use unbounded memory.
        var channel = Channel.CreateBounded<LauncherEvent>(new BoundedChannelOptions(WatcherBacklog)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });
        lock (gate)
        {
            watchers.Add(channel);
        }

        return channel;
    }

    public void Unwatch(Channel<LauncherEvent> channel)
    {
        lock (gate)
        {
            watchers.Remove(channel);
        }

        channel.Writer.TryComplete();
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken)
    {
        lock (gate)
        {
            foreach (var child in children.Values.Where(c => !c.Process.HasExited))
            {
                logger.LogInformation("Launcher stopping: sending term to UEP {UepId} ({Username}, pid {ChildPid})",
                    child.UepId, child.User.Name, child.Pid);
                Native.Kill(child.Pid, Native.SigTerm);
            }

            foreach (var watcher in watchers)
            {
                watcher.Writer.TryComplete();
            }
        }

        return Task.CompletedTask;
    }

    private ProcessStartInfo BuildStartInfo(StartCommand command)
    {
        // The launcher's own program in its pre-exec mode (ExecAs) drops to the user and execs the UEP program.
        // It starts as root in "/" and enters the home directory only as the user (root may not read it on NFS).
        var (self, selfArguments) = SelfCommand();
        var info = new ProcessStartInfo(self)
        {
            UseShellExecute = false,
            WorkingDirectory = "/",
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var user = command.User;
        var plan = new ExecAs.Plan(user.Name, user.Uid, user.Gid, user.Home,
            LauncherOptionsValidator.ParseUmask(options.Umask)!.Value, options.NoNewPrivileges,
            options.UepProgram, options.UepProgramArguments, UepEnvironment(command));
        foreach (var argument in selfArguments.Concat(ExecAs.Arguments(plan)))
        {
            info.ArgumentList.Add(argument);
        }

        // Nothing of the launcher's own environment reaches the step or the user's process; the step itself gets
        // only what the runtime needs, the UEP exactly its own list.
        info.Environment.Clear();
        info.Environment[ExecAs.EnvironmentVariable] = ExecAs.EncodeEnvironment(plan.Environment);
        info.Environment["DOTNET_EnableDiagnostics"] = "0"; // no debugger/diagnostics socket in a root process
        if (System.Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } dotnetRoot)
        {
            info.Environment["DOTNET_ROOT"] = dotnetRoot; // an apphost launcher found its runtime this way
        }

        return info;
    }

    private List<string> UepEnvironment(StartCommand command)
    {
        var user = command.User;
        var environment = new SortedDictionary<string, string>(options.Environment, StringComparer.Ordinal)
        {
            ["HOME"] = user.Home,
            ["USER"] = user.Name,
            ["LOGNAME"] = user.Name,
            ["SHELL"] = user.Shell.Length > 0 ? user.Shell : "/bin/sh",
            ["PATH"] = options.Path,
            ["MEP_UEP_ID"] = command.UepId,
        };
        return environment.Select(pair => $"{pair.Key}={pair.Value}").ToList();
    }

    /// <summary>How to run this launcher program again: its apphost, or `dotnet mep-launcher.dll`.</summary>
    private static (string Program, List<string> Arguments) SelfCommand()
    {
        var host = System.Environment.ProcessPath ?? throw new InvalidOperationException("the launcher's own path is unknown");
        return Path.GetFileNameWithoutExtension(host) == "dotnet"
            ? (host, [typeof(ChildSupervisor).Assembly.Location])
            : (host, []);
    }

    private async Task WriteStdinAsync(Child child, string stdin)
    {
        try
        {
            using var limit = new CancellationTokenSource(StdinWriteLimit);
            var stream = child.Process.StandardInput.BaseStream;
            await stream.WriteAsync(Encoding.UTF8.GetBytes(stdin), limit.Token);
            await stream.FlushAsync(limit.Token);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            logger.LogWarning("UEP {UepId} (pid {ChildPid}) did not take its stdin document: {Reason}",
                child.UepId, child.Pid, OneLine(e.Message));
        }
        finally
        {
            try
            {
                child.Process.StandardInput.Close();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // The child is gone; nothing left to close.
            }
        }
    }

    private async Task SuperviseAsync(Child child)
    {
        try
        {
            var process = child.Process;
            var stderr = Drain(child.Tail.ReadToEndAsync(process.StandardError, CancellationToken.None));
            _ = Drain(process.StandardOutput.BaseStream.CopyToAsync(Stream.Null));
            await process.WaitForExitAsync();

            // A grandchild may hold stderr open after the child exited: wait a little for the tail, not forever.
            try
            {
                await stderr.WaitAsync(StderrDrainLimit);
            }
            catch (TimeoutException)
            {
                logger.LogDebug("UEP {UepId}: stderr still open after exit", child.UepId);
            }

            var exitCode = process.ExitCode;
            var exited = new LauncherEvent(LauncherEventKind.Exited, child.UepId, child.User.Name, child.Pid, exitCode,
                child.Tail.Text(), time.GetUtcNow());
            Forget(child, exited);
            logger.LogInformation("UEP {UepId} ({Username}, pid {ChildPid}) exited with code {ExitCode}",
                child.UepId, child.User.Name, child.Pid, exitCode);
            process.Dispose();
        }
        catch (Exception e)
        {
            // Should not happen; if it does, do not keep a child we no longer watch.
            logger.LogError(e, "Lost track of UEP {UepId} (pid {ChildPid})", child.UepId, child.Pid);
            Forget(child, new LauncherEvent(LauncherEventKind.Exited, child.UepId, child.User.Name, child.Pid, -1,
                "the launcher lost track of this process", time.GetUtcNow()));
        }
    }

    // Forget first, then tell watchers: whoever hears of the exit may start the same id again at once.
    private void Forget(Child child, LauncherEvent exited)
    {
        lock (gate)
        {
            if (children.TryGetValue(child.UepId, out var current) && ReferenceEquals(current, child))
            {
                children.Remove(child.UepId);
            }

            foreach (var watcher in watchers)
            {
                watcher.Writer.TryWrite(exited);
            }
        }
    }

    private static async Task Drain(Task reading)
    {
        try
        {
            await reading;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The pipe closed under us when the process was disposed.
        }
    }

    internal static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim();
}
