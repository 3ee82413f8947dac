using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Text;

namespace Mep.Tests.Launcher;

/// <summary>
/// The real mep-launcher program run as a child of the test: the published Native AOT binary when run.sh test names it
/// (<see cref="Mep.Tests.Infrastructure.PublicPrograms.PublishedVariable"/>), else `dotnet mep-launcher.dll ARGS`.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class LauncherProcess : IAsyncDisposable
{
    private readonly StringBuilder output = new();
    private readonly Process process;

    private LauncherProcess(ProcessStartInfo info)
    {
        process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => Record(e.Data);
        process.ErrorDataReceived += (_, e) => Record(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Pid => process.Id;

    public bool HasExited => process.HasExited;

    /// <summary>Everything the launcher wrote to stdout and stderr so far.</summary>
    public string Output
    {
        get
        {
            lock (output)
            {
                return output.ToString();
            }
        }
    }

    /// <summary>
    /// Starts the launcher with <paramref name="arguments"/>; <paramref name="environment"/> entries are added to the
    /// test's environment, or, with <paramref name="userName"/>, make up the whole environment of a launcher run as
    /// that user (a personal launcher). <paramref name="directory"/> (the program's) defaults to <see cref="ProgramDirectory"/>.
    /// </summary>
    public static LauncherProcess Start(
        IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null, string? userName = null, string? directory = null)
    {
        var (program, prefix) = Mep.Tests.Infrastructure.PublicPrograms.CommandIn(directory ?? ProgramDirectory(), "mep-launcher");
        var info = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = "/",
        };
        foreach (var argument in prefix.Concat(arguments))
        {
            info.ArgumentList.Add(argument);
        }

        if (userName is not null)
        {
            info.UserName = userName;
            info.Environment.Clear();
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        return new LauncherProcess(info);
    }

    /// <summary>
    /// The launcher's published or build output directory (its copy in the test directory lacks the
    /// Microsoft.Extensions assemblies that the test project gets from the ASP.NET shared framework).
    /// </summary>
    public static string ProgramDirectory() => Mep.Tests.Infrastructure.PublicPrograms.BuildOutput("Launcher");

    /// <summary>Polls until something accepts connections on the socket; fails if the launcher exits first.</summary>
    public async Task WaitUntilListeningAsync(string socketPath, CancellationToken cancellationToken)
    {
        await Mep.Tests.Infrastructure.Poll.TryUntilAsync(
            async () =>
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"the launcher exited with {process.ExitCode}:\n{Output}");
                }

                using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await probe.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
                    return true;
                }
                catch (SocketException)
                {
                    return false;
                }
            },
            Timeout.InfiniteTimeSpan,
            cancellationToken);
    }

    /// <summary>Waits for the launcher's log to contain <paramref name="text"/>.</summary>
    public async Task WaitForOutputAsync(string text, CancellationToken cancellationToken)
    {
        await Mep.Tests.Infrastructure.Poll.TryUntilAsync(
            () => Output.Contains(text, StringComparison.Ordinal), Timeout.InfiniteTimeSpan, cancellationToken);
    }

    public async Task<int> WaitForExitAsync(CancellationToken cancellationToken)
    {
        await process.WaitForExitAsync(cancellationToken);
        return process.ExitCode;
    }

    /// <summary>Sends SIGTERM, as systemd would, and returns the exit code.</summary>
    public async Task<int> StopAsync()
    {
        if (!process.HasExited)
        {
            Mep.Launcher.Native.Kill(process.Id, Mep.Launcher.Native.SigTerm);
        }

        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            return await WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"the launcher ignored SIGTERM:\n{Output}");
        }
    }

    /// <summary>SIGKILL: the launcher gets no chance to clean up, like a crash.</summary>
    public async Task<int> KillAsync()
    {
        process.Kill();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return await WaitForExitAsync(limit.Token);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!process.HasExited)
            {
                await StopAsync();
            }
        }
        finally
        {
            process.Dispose();
        }
    }

    private void Record(string? line)
    {
        if (line is not null)
        {
            lock (output)
            {
                output.AppendLine(line);
            }
        }
    }
}
