using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Mep.Launcher.Cgroups;
using Mep.Protocol.Launcher;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mep.Launcher;

/// <summary>The credentials of the process at the other end of a connection, from SO_PEERCRED.</summary>
public readonly record struct PeerCredentials(int Pid, uint Uid, uint Gid);

/// <summary>A started (or already running) UEP: its pid and how it is contained (cgroups), for the start's answer.</summary>
public sealed record StartedUep(int Pid, string? ResourceControl);

/// <summary>
/// Starts UEP processes (one per UEP id), watches them and tells every watcher when one exits. With a state directory
/// (Launcher:StateDirectory) it records each one, leaves them running when the launcher stops, and on start adopts the
/// ones still alive (same pid and same start time): restarting the launcher does not kill UEPs. Without one, stopping
/// the launcher terminates its children, which nobody could find again.
/// </summary>
public sealed class ChildSupervisor(
    IOptions<LauncherOptions> options,
    ILogger<ChildSupervisor> logger,
    TimeProvider time,
    CgroupManager cgroups) : IHostedService
{
    private static readonly TimeSpan StderrDrainLimit = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan StdinWriteLimit = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan AdoptedPollInterval = TimeSpan.FromMilliseconds(250);
    private const int WatcherBacklog = 4096;
    private const string UnknownExit = "exit status unknown: the launcher was restarted while this UEP ran";

    private readonly LauncherOptions options = options.Value;
    private readonly Dictionary<string, Child> children = new(StringComparer.Ordinal);
    private readonly List<Channel<LauncherEvent>> watchers = [];
    private readonly Lock gate = new();
    private readonly CancellationTokenSource stopping = new();
    private readonly ChildStateDirectory? state =
        options.Value.StateDirectory.Length > 0 ? new ChildStateDirectory(options.Value.StateDirectory) : null;

    /// <summary>
    /// A UEP process. <see cref="Process"/> and <see cref="Tail"/> only for the ones this launcher started; adopted
    /// ones are not its children (their exit status goes to init), so it sees only that they ended, through the pidfd.
    /// </summary>
    private sealed record Child(string UepId, string Username, uint Uid, int Pid, DateTimeOffset StartedAt, Process? Process, StderrTail? Tail)
    {
        /// <summary>Names this very process whatever pid reuse happens; -1 if it could not be opened. Under the gate.</summary>
        public int Pidfd { get; set; } = -1;

        /// <summary>Why the launcher itself is stopping it (its account may no longer run a UEP); under the gate.</summary>
        public string? RevokedFor { get; set; }

        /// <summary>The UEP's cgroup directories, removed after it exits.</summary>
        public IReadOnlyList<string> Cgroups { get; init; } = [];

        public string? ResourceControl { get; init; }
    }

    /// <summary>Starts the UEP, or returns the pid of the one already running for this id and user.</summary>
    public StartedUep Start(StartCommand command, PeerCredentials peer)
    {
        lock (gate)
        {
            if (children.TryGetValue(command.UepId, out var existing))
            {
                if (existing.Username != command.User.Name)
                {
                    throw new RequestRefusedException(
                        $"uep {command.UepId} is already running as user '{existing.Username}'");
                }

                logger.LogInformation(
                    "UEP {UepId} already running as {Username} (pid {ChildPid}); start from pid {PeerPid} uid {PeerUid} is a no-op",
                    command.UepId, existing.Username, existing.Pid, peer.Pid, peer.Uid);
                return new StartedUep(existing.Pid, existing.ResourceControl);
            }

            // Made before the step is spawned; it joins them itself before it drops privileges and execs.
            var placement = cgroups.Create(command.UepId, command.Limits);
            Process process;
            try
            {
                process = Process.Start(BuildStartInfo(command, placement))
                    ?? throw new InvalidOperationException("no process was started");
            }
            catch (Exception e) when (e is Win32Exception or IOException or InvalidOperationException)
            {
                cgroups.Release(placement.Paths);
                throw new RequestRefusedException(
                    $"cannot start the UEP program as user '{command.User.Name}': {OneLine(e.Message)}");
            }

            // Our unreaped child until its exit is noticed: the pidfd surely names it.
            var child = new Child(command.UepId, command.User.Name, command.User.Uid, process.Id, time.GetUtcNow(), process,
                new StderrTail(options.StderrTailLines))
            {
                Pidfd = Native.PidfdOpen(process.Id),
                Cgroups = placement.Paths,
                ResourceControl = placement.Description,
            };
            children.Add(command.UepId, child);
            Record(child);
            logger.LogInformation(
                "Started UEP {UepId} as {Username} (uid {Uid}) with pid {ChildPid}, asked by pid {PeerPid} uid {PeerUid}; {ResourceControl}",
                command.UepId, command.User.Name, command.User.Uid, child.Pid, peer.Pid, peer.Uid, placement.Description);
            _ = WriteStdinAsync(child, process, command.Stdin);
            _ = SuperviseAsync(child, process, child.Tail!);
            return new StartedUep(child.Pid, placement.Description);
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

            Send(child, command.Signal, command.SignalName);
            logger.LogInformation(
                "Sent {Signal} to UEP {UepId} ({Username}, pid {ChildPid}), asked by pid {PeerPid} uid {PeerUid}",
                command.SignalName, command.UepId, child.Username, child.Pid, peer.Pid, peer.Uid);
            return child.Pid;
        }
    }

    /// <summary>
    /// Stops a UEP on the launcher's own authority (its account may no longer run one): SIGTERM now, SIGKILL when it
    /// is still running after <paramref name="grace"/>; its exit event then carries <paramref name="reason"/>.
    /// </summary>
    /// <returns>False when that process is gone or already being stopped for a reason.</returns>
    public bool Revoke(string uepId, int pid, string reason, TimeSpan grace)
    {
        Child? child;
        lock (gate)
        {
            if (!children.TryGetValue(uepId, out child) || child.Pid != pid || child.RevokedFor is not null)
            {
                return false;
            }

            child.RevokedFor = reason;
            Send(child, Native.SigTerm, "term");
        }

        _ = KillAfterAsync(child, grace);
        return true;
    }

    private async Task KillAfterAsync(Child child, TimeSpan grace)
    {
        try
        {
            await Task.Delay(grace, time, stopping.Token);
        }
        catch (OperationCanceledException)
        {
            return; // the launcher is stopping; the next one's sweep finds the account again
        }

        lock (gate)
        {
            if (children.TryGetValue(child.UepId, out var current) && ReferenceEquals(current, child))
            {
                logger.LogWarning("UEP {UepId} ({Username}, pid {ChildPid}) still running {Grace} after SIGTERM; sending SIGKILL",
                    child.UepId, child.Username, child.Pid, grace);
                Send(child, Native.SigKill, "kill");
            }
        }
    }

    // Through the pidfd, never a pid that may have been reused since. Under the gate.
    private void Send(Child child, int signal, string name)
    {
        var failed = child.Pidfd >= 0
            ? Native.PidfdSendSignal(child.Pidfd, signal) != 0
            : child.Process is { HasExited: false } && Native.Kill(child.Pid, signal) != 0;
        if (failed)
        {
            logger.LogWarning("Signal {Signal} to pid {ChildPid} failed: errno {Errno}",
                name, child.Pid, System.Runtime.InteropServices.Marshal.GetLastPInvokeError());
        }
    }

    public IReadOnlyList<LauncherChild> List()
    {
        lock (gate)
        {
            return children.Values
                .Select(c => new LauncherChild(c.UepId, c.Username, (int)c.Uid, c.Pid, c.StartedAt))
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

    /// <summary>Adopts the UEPs a previous launcher recorded, before the socket takes requests.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        cgroups.Initialize();
        _ = cgroups.RemovePendingAsync(stopping.Token);
        if (state is null)
        {
            cgroups.Sweep(new HashSet<string>());
            return Task.CompletedTask;
        }

        state.Prepare();
        var records = state.Load(name => logger.LogWarning("Removed unreadable state record {Record}", name));
        lock (gate)
        {
            foreach (var record in records)
            {
                Adopt(record);
            }

            // Adopted UEPs keep theirs; the cgroups of UEPs that ended while no launcher watched go.
            cgroups.Sweep(children.Keys.ToHashSet(StringComparer.Ordinal));
        }

        _ = WatchAdoptedAsync(stopping.Token);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await stopping.CancelAsync();
        lock (gate)
        {
            if (state is not null)
            {
                logger.LogInformation("Launcher stopping: leaving {Count} UEPs running for the next launcher to adopt", children.Count);
            }

            foreach (var child in children.Values.Where(c => state is null && c.Process is { HasExited: false }))
            {
                logger.LogInformation("Launcher stopping: sending term to UEP {UepId} ({Username}, pid {ChildPid})",
                    child.UepId, child.Username, child.Pid);
                Native.Kill(child.Pid, Native.SigTerm);
            }

            foreach (var watcher in watchers)
            {
                watcher.Writer.TryComplete();
            }
        }
    }

    // Same pid and same start time as recorded: the very process the previous launcher started. Under the gate.
    private void Adopt(ChildRecord record)
    {
        var pidfd = Native.PidfdOpen(record.Pid);
        if (pidfd >= 0 && ChildStateDirectory.StartTime(record.Pid) == record.StartTime)
        {
            children[record.UepId] = new Child(record.UepId, record.Username, (uint)record.Uid, record.Pid, record.StartedAt,
                Process: null, Tail: null) { Pidfd = pidfd, Cgroups = record.Cgroups ?? [], ResourceControl = record.ResourceControl };
            logger.LogInformation("Adopted UEP {UepId} ({Username}, uid {Uid}, pid {ChildPid}) started at {StartedAt:o}",
                record.UepId, record.Username, record.Uid, record.Pid, record.StartedAt);
            return;
        }

        if (pidfd >= 0)
        {
            Native.Close(pidfd); // the pid now belongs to another process
        }

        logger.LogInformation("UEP {UepId} ({Username}, pid {ChildPid}) ended while no launcher watched it",
            record.UepId, record.Username, record.Pid);
        TryRemoveRecord(record.UepId);
    }

    // Adopted UEPs are not our children: no SIGCHLD, no exit status. Poll their pidfds instead.
    private async Task WatchAdoptedAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(AdoptedPollInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                List<Child> ended;
                lock (gate)
                {
                    ended = children.Values.Where(c => c.Process is null && (c.Pidfd < 0 || Native.PidfdExited(c.Pidfd))).ToList();
                }

                foreach (var child in ended)
                {
                    logger.LogInformation("Adopted UEP {UepId} ({Username}, pid {ChildPid}) exited", child.UepId, child.Username, child.Pid);
                    cgroups.Release(child.Cgroups);
                    Forget(child, new LauncherEvent(LauncherEventKind.Exited, child.UepId, child.Username, child.Pid, -1,
                        UnknownExit, time.GetUtcNow()));
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The launcher is stopping.
        }
    }

    private void Record(Child child)
    {
        if (state is null)
        {
            return;
        }

        try
        {
            state.Save(new ChildRecord(child.UepId, child.Username, (int)child.Uid, child.Pid,
                ChildStateDirectory.StartTime(child.Pid) ?? 0, child.StartedAt, child.Cgroups.Count > 0 ? child.Cgroups : null,
                child.ResourceControl));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogError("Cannot record UEP {UepId} (pid {ChildPid}); a restarted launcher will not find it: {Reason}",
                child.UepId, child.Pid, e.Message);
        }
    }

    private void TryRemoveRecord(string uepId)
    {
        try
        {
            state?.Remove(uepId);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogError("Cannot remove the state record of UEP {UepId}: {Reason}", uepId, e.Message);
        }
    }

    private ProcessStartInfo BuildStartInfo(StartCommand command, CgroupPlacement placement)
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
            options.UepProgram, options.UepProgramArguments, UepEnvironment(command), command.Limits, command.PamService,
            placement.Paths.Count > 0 ? cgroups.Parent : null, placement.Paths.Count > 0 ? placement.Paths : null);
        foreach (var argument in selfArguments.Concat(ExecAs.Arguments(plan)))
        {
            info.ArgumentList.Add(argument);
        }

        // Nothing of the launcher's own environment reaches the step or the user's process; the step itself gets
        // only what the runtime needs, the UEP exactly its own list.
        info.Environment.Clear();
        info.Environment[ExecAs.EnvironmentVariable] = ExecAs.EncodeEnvironment(plan.Environment);
        info.Environment["DOTNET_EnableDiagnostics"] = "0"; // no debugger/diagnostics socket in a root process
        if (command.PamService is not null)
        {
            info.Environment["DOTNET_GCHeapHardLimit"] = Pam.PamSessionStep.StepHeapLimit; // see PamSessionStep.Open
        }
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
            ? (host, [Path.Combine(AppContext.BaseDirectory, "mep-launcher.dll")]) // not Assembly.Location: empty under Native AOT
            : (host, []);
    }

    private async Task WriteStdinAsync(Child child, Process process, string stdin)
    {
        try
        {
            using var limit = new CancellationTokenSource(StdinWriteLimit);
            var stream = process.StandardInput.BaseStream;
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
                process.StandardInput.Close();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // The child is gone; nothing left to close.
            }
        }
    }

    private async Task SuperviseAsync(Child child, Process process, StderrTail tail)
    {
        try
        {
            var stderr = Drain(tail.ReadToEndAsync(process.StandardError, CancellationToken.None));
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
            cgroups.Release(child.Cgroups); // before the exit is told: the same UEP may be started again at once
            var exited = new LauncherEvent(LauncherEventKind.Exited, child.UepId, child.Username, child.Pid, exitCode,
                tail.Text(), time.GetUtcNow());
            Forget(child, exited);
            logger.LogInformation("UEP {UepId} ({Username}, pid {ChildPid}) exited with code {ExitCode}",
                child.UepId, child.Username, child.Pid, exitCode);
            process.Dispose();
        }
        catch (Exception e)
        {
            // Should not happen; if it does, do not keep a child we no longer watch.
            logger.LogError(e, "Lost track of UEP {UepId} (pid {ChildPid})", child.UepId, child.Pid);
            cgroups.Release(child.Cgroups);
            Forget(child, new LauncherEvent(LauncherEventKind.Exited, child.UepId, child.Username, child.Pid, -1,
                "the launcher lost track of this process", time.GetUtcNow()));
        }
    }

    // Forget first, then tell watchers: whoever hears of the exit may start the same id again at once.
    private void Forget(Child child, LauncherEvent exited)
    {
        lock (gate)
        {
            exited = exited with { Reason = child.RevokedFor };
            if (children.TryGetValue(child.UepId, out var current) && ReferenceEquals(current, child))
            {
                children.Remove(child.UepId);
                TryRemoveRecord(child.UepId);
            }

            if (child.Pidfd >= 0)
            {
                Native.Close(child.Pidfd);
                child.Pidfd = -1;
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
