using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Mep.Endpoint.Python;

/// <summary>python3 could not be started or did not get ready; the message says why, fit for a task's failure reason.</summary>
internal sealed class PythonStartException(string message) : Exception(message);

/// <summary>
/// One long-lived <c>python3</c> running <see cref="PythonDriver"/>, in a session and process group of its own (so a
/// walltime kill takes whatever the function started with it). Requests go to its stdin and responses come from its
/// stdout, one JSON line each; its stderr is the driver's log, forwarded to ours.
/// </summary>
internal sealed class PythonProcess : IDisposable
{
    private static readonly TimeSpan ReapTimeout = TimeSpan.FromSeconds(5);
    private const int LogLinesKept = 20;
    private const int MaxLinesBeforeReady = 1000;
    private const int LogLineMax = 500;

    private readonly Process _process;
    private readonly string _label;
    private readonly Queue<string> _log = new();

    private PythonProcess(Process process, string label)
    {
        _process = process;
        _label = label;
        _ = PumpLogAsync();
    }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Python's version, from the driver's ready line.</summary>
    public string Version { get; private set; } = "";

    /// <summary>The last lines python wrote to its stderr (a crash's message), for failure reasons.</summary>
    public string LastLog
    {
        get
        {
            lock (_log)
            {
                return string.Join(" | ", _log.TakeLast(3));
            }
        }
    }

    public static async Task<PythonProcess> StartAsync(string python, string workingDirectory, string label, CancellationToken ct)
    {
        var psi = new ProcessStartInfo
        {
            FileName = ShellRunner.SetsidPath ?? python,
            WorkingDirectory = workingDirectory,
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
        };
        if (ShellRunner.SetsidPath is not null)
        {
            psi.ArgumentList.Add(python);
        }

        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(PythonDriver.Source);
        TrustStoreLocation.ForChild(psi);

        var process = new Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is Win32Exception or InvalidOperationException)
        {
            process.Dispose();
            throw new PythonStartException($"could not start {python}: {e.Message}");
        }

        var started = new PythonProcess(process, label);
        try
        {
            // What python prints before the driver takes over its stdout (a sitecustomize or .pth file of the user's
            // environment may print) comes first: skip it, up to a bound.
            for (var skipped = 0; ; skipped++)
            {
                var line = await started.ReadLineAsync(ct).ConfigureAwait(false);
                if (line is null)
                {
                    await started.WaitForExitAsync().ConfigureAwait(false);
                    throw new PythonStartException($"{python} exited before it was ready{started.Describe()}");
                }

                if (ReadyVersion(line) is { } version)
                {
                    started.Version = version;
                    break;
                }

                if (skipped >= MaxLinesBeforeReady)
                {
                    throw new PythonStartException($"{python} did not start the MEP driver (it said: {Clip(line)})");
                }

                Log.Warn($"{label} python printed before it was ready: {Clip(line)}");
            }

            return started;
        }
        catch
        {
            started.Kill();
            started.Dispose();
            throw;
        }
    }

    /// <summary>The version from the driver's ready line; null for any other line.</summary>
    private static string? ReadyVersion(string line)
    {
        if (!line.StartsWith("{\"ready\"", StringComparison.Ordinal))
        {
            return null;
        }

        try
        {
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.GetProperty("version").GetString() ?? "";
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Sends one request line (ending in its newline) and returns the response line; null if python exited first.</summary>
    public async Task<string?> CallAsync(ReadOnlyMemory<byte> request, CancellationToken ct)
    {
        if (request.Length == 0 || request.Span[^1] != (byte)'\n')
        {
            throw new ArgumentException("a request is one line ending in its newline", nameof(request));
        }

        try
        {
            // One write: the driver reads lines, so a request split in two wakes python3 twice.
            var stdin = _process.StandardInput.BaseStream;
            await stdin.WriteAsync(request, ct).ConfigureAwait(false);
            await stdin.FlushAsync(ct).ConfigureAwait(false);
        }
        catch (IOException)
        {
            // Broken pipe: python is gone; the read below sees end of file and says so.
        }

        return await ReadLineAsync(ct).ConfigureAwait(false);
    }

    /// <summary>" (exit code N: last log lines)", for a python that ended.</summary>
    public string Describe()
    {
        var code = _process.HasExited ? ExitDescription(_process.ExitCode) : "still running";
        var log = LastLog;
        return log.Length == 0 ? $" ({code})" : $" ({code}: {log})";
    }

    /// <summary>Kills the process group: the driver and everything the function started.</summary>
    public void Kill()
    {
        if (ShellRunner.SetsidPath is not null)
        {
            _ = Native.Kill(-_process.Id, Native.SIGKILL);
        }

        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or Win32Exception or AggregateException)
        {
            // Already gone.
        }
    }

    public async Task WaitForExitAsync()
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(ReapTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Log.Warn($"{_label}: python pid {_process.Id} did not exit within {ReapTimeout.TotalSeconds:0} s of being killed");
        }
    }

    private async Task<string?> ReadLineAsync(CancellationToken ct)
    {
        // WaitAsync: a pipe read may not observe the token; the caller kills the process after a cancellation.
        return await _process.StandardOutput.ReadLineAsync(ct).AsTask().WaitAsync(ct).ConfigureAwait(false);
    }

    private async Task PumpLogAsync()
    {
        try
        {
            string? line;
            while ((line = await _process.StandardError.ReadLineAsync().ConfigureAwait(false)) is not null)
            {
                var clipped = Clip(line);
                lock (_log)
                {
                    _log.Enqueue(clipped);
                    if (_log.Count > LogLinesKept)
                    {
                        _log.Dequeue();
                    }
                }

                Log.Warn($"{_label} python: {clipped}");
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The process was disposed under us.
        }
    }

    private static string ExitDescription(int code) => code switch
    {
        > 128 and < 160 => $"killed by signal {code - 128}",
        _ => $"exit code {code}",
    };

    private static string Clip(string line) => line.Length <= LogLineMax ? line : line[..LogLineMax] + "…";

    /// <summary>Closes our ends of its pipes (the log pump then ends); kill first if it must not run on.</summary>
    public void Dispose() => _process.Dispose();
}
