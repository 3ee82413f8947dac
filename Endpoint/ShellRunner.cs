using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using Mep.Protocol.Messages;
using Mep.Protocol.Shell;

namespace Mep.Endpoint;

/// <summary>
/// Runs one shell function: renders the template (every argument shell-quoted), runs it with <c>/bin/sh -c</c>
/// in a new session so that the whole process tree can be killed as one process group, and captures the tail of
/// stdout and stderr. The task's stdin is the UEP's own (pointed at /dev/null by <see cref="Program"/>) and it
/// inherits the UEP's environment.
/// </summary>
internal sealed class ShellRunner(ProcessIdentity identity, string workingDirectory)
{
    /// <summary>util-linux setsid: makes the shell a session and process-group leader (no fork: our child is not a group leader).</summary>
    internal static readonly string? SetsidPath = new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists);

    // After a kill, how long to wait for the pipes to drain: a descendant that escaped the group may hold them open.
    private static readonly TimeSpan DrainAfterKill = TimeSpan.FromSeconds(2);

    // Longest delay CancellationTokenSource accepts (about 49 days): a longer walltime is effectively none.
    private static readonly TimeSpan MaxTimer = TimeSpan.FromMilliseconds(uint.MaxValue - 1.0);

    public string WorkingDirectory { get; } = workingDirectory;

    /// <summary>The user's home when it exists (the launcher sets HOME), else the current directory.</summary>
    public static string DefaultWorkingDirectory()
    {
        var home = Environment.GetEnvironmentVariable("HOME");
        return !string.IsNullOrEmpty(home) && Directory.Exists(home) ? home : Environment.CurrentDirectory;
    }

    /// <summary>
    /// Runs the task to a result. A failure of the task (bad template, non-zero exit, walltime) is a result, not an
    /// exception. Cancelling <paramref name="shutdown"/> kills the process tree and throws
    /// <see cref="OperationCanceledException"/>: the caller gives the task back to the queue.
    /// </summary>
    public async Task<TaskResultMessage> RunAsync(TaskMessage task, CancellationToken shutdown)
    {
        var startedAt = DateTimeOffset.UtcNow;
        if (task.Kind != FunctionKind.Shell)
        {
            return Failed(task.TaskId, startedAt, $"function kind '{task.Kind}' is not supported by this endpoint");
        }

        string command;
        try
        {
            command = ShellCommand.Render(task.Command, task.Args);
        }
        catch (FormatException e)
        {
            return Failed(task.TaskId, startedAt, e.Message);
        }

        var psi = new ProcessStartInfo
        {
            FileName = SetsidPath ?? "/bin/sh",
            WorkingDirectory = WorkingDirectory,
            UseShellExecute = false,
            RedirectStandardInput = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (SetsidPath is not null)
        {
            psi.ArgumentList.Add("/bin/sh");
        }

        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(command);
        TrustStoreLocation.ForChild(psi);

        using var process = new Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is Win32Exception or InvalidOperationException)
        {
            return Failed(task.TaskId, startedAt, $"could not start /bin/sh: {e.Message}");
        }

        var stdout = new OutputTail(task.OutputLimitBytes);
        var stderr = new OutputTail(task.OutputLimitBytes);
        using var drain = new CancellationTokenSource();
        var pumps = Task.WhenAll(
            PumpAsync(process.StandardOutput.BaseStream, stdout, drain.Token),
            PumpAsync(process.StandardError.BaseStream, stderr, drain.Token));

        using var walltime = new CancellationTokenSource();
        var limit = WalltimeOf(task);
        if (limit is { } l)
        {
            walltime.CancelAfter(l);
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(walltime.Token, shutdown);
        string? error = null;
        try
        {
            // Done when the shell has exited and every process holding its output has closed it,
            // which is what a caller capturing output would wait for.
            await process.WaitForExitAsync(stop.Token).ConfigureAwait(false);
            await pumps.WaitAsync(stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            KillTree(process);
            await Quietly(process.WaitForExitAsync(CancellationToken.None).WaitAsync(DrainAfterKill)).ConfigureAwait(false);
            drain.CancelAfter(DrainAfterKill);
            await Quietly(pumps).ConfigureAwait(false);
            shutdown.ThrowIfCancellationRequested();
            error = string.Create(CultureInfo.InvariantCulture, $"walltime of {task.WalltimeSeconds:0.###} s exceeded");
        }

        int? returnCode = process.HasExited ? process.ExitCode : null;
        var state = error is null && returnCode == 0 ? TaskState.Success : TaskState.Failed;
        return new TaskResultMessage(
            task.TaskId, state, returnCode, stdout.ToString(), stderr.ToString(), stdout.Truncated || stderr.Truncated,
            error, startedAt, DateTimeOffset.UtcNow, identity.Hostname, identity.Uid, identity.Username);
    }

    /// <summary>A non-positive or non-finite walltime means no limit.</summary>
    internal static TimeSpan? WalltimeOf(TaskMessage task)
    {
        if (!double.IsFinite(task.WalltimeSeconds) || task.WalltimeSeconds <= 0)
        {
            return null;
        }

        return task.WalltimeSeconds * 1000 >= MaxTimer.TotalMilliseconds ? MaxTimer : TimeSpan.FromSeconds(task.WalltimeSeconds);
    }

    /// <summary>A result for a task that never ran, with the reason.</summary>
    public TaskResultMessage Failure(Guid taskId, string error) => Failed(taskId, DateTimeOffset.UtcNow, error);

    private TaskResultMessage Failed(Guid taskId, DateTimeOffset startedAt, string error) =>
        new(taskId, TaskState.Failed, null, "", "", false, error, startedAt, DateTimeOffset.UtcNow,
            identity.Hostname, identity.Uid, identity.Username);

    private static async Task Quietly(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            // Best effort after a kill; the result is built from what we have.
        }
    }

    private static async Task PumpAsync(Stream stream, OutputTail tail, CancellationToken cancel)
    {
        var buffer = new byte[16384];
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, cancel).ConfigureAwait(false)) > 0)
            {
                tail.Append(buffer.AsSpan(0, n));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // Abandoned after a kill: keep what was read.
        }
    }

    /// <summary>
    /// Kills the descendants .NET can find through parent links (it stops each before listing its children),
    /// then the whole process group, which also catches background jobs already orphaned by an exited subshell.
    /// </summary>
    private static void KillTree(Process process)
    {
        var pgid = process.Id;
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or Win32Exception or AggregateException)
        {
            // Already gone, or some descendant was: the group kill below still runs.
        }

        if (SetsidPath is not null)
        {
            _ = Native.Kill(-pgid, Native.SIGKILL);
        }
    }
}
