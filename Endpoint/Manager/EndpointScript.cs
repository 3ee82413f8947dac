using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

namespace Mep.Endpoint.Manager;

/// <summary>
/// endpoint_setup / endpoint_teardown: shell text from the user's rendered config, run once per UEP process as the
/// user with <c>/bin/sh -c</c> in the home directory. Its output goes to the UEP's log; a failure is reported with the
/// exit status and the last lines of stderr.
/// </summary>
internal static class EndpointScript
{
    private const int KeptLines = 10;

    /// <returns>Null on success, else why it failed (one line, fit for a task's failure reason).</returns>
    public static async Task<string?> RunAsync(string name, string script, TimeSpan timeout, CancellationToken ct)
    {
        var psi = new ProcessStartInfo
        {
            FileName = "/bin/sh",
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } home && Directory.Exists(home) ? home : Environment.CurrentDirectory,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        TrustStoreLocation.ForChild(psi);
        using var process = new Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is Win32Exception or InvalidOperationException)
        {
            return $"{name} could not start: {e.Message}";
        }

        var stderrTail = new Queue<string>();
        var stdout = PumpAsync(process.StandardOutput, line => Log.Info($"{name}: {line}"));
        var stderr = PumpAsync(process.StandardError, line =>
        {
            Log.Info($"{name} (stderr): {line}");
            lock (stderrTail)
            {
                stderrTail.Enqueue(line);
                while (stderrTail.Count > KeptLines)
                {
                    stderrTail.Dequeue();
                }
            }
        });
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
            await Task.WhenAll(stdout, stderr).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return string.Create(CultureInfo.InvariantCulture, $"{name} did not finish within {timeout.TotalSeconds:0} s");
        }
        catch (TimeoutException)
        {
            // A background child still holds the pipes: the script itself is done.
        }

        if (process.ExitCode == 0)
        {
            return null;
        }

        string tail;
        lock (stderrTail)
        {
            tail = string.Join(" | ", stderrTail);
        }

        return string.Create(CultureInfo.InvariantCulture, $"{name} failed with exit status {process.ExitCode}{(tail.Length == 0 ? "" : ": " + tail)}");
    }

    private static async Task PumpAsync(StreamReader reader, Action<string> line)
    {
        while (await reader.ReadLineAsync().ConfigureAwait(false) is { } text)
        {
            line(text);
        }
    }
}
