using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace Mep.Identity;

/// <summary>How a program ended: its exit code, what it wrote on stdout, and the last lines of its stderr.</summary>
internal sealed record ProgramRun(int ExitCode, byte[] Stdout, string StderrTail);

/// <summary>A program that could not be started, did not finish in time, or wrote too much; the message says which.</summary>
internal sealed class ExternalProgramException(string message) : Exception(message);

/// <summary>
/// Runs a site's program (an external identity mapping) the way the silo can afford to: directly from its argv (no
/// shell), with a minimal clean environment, stdin written and closed, stdout read up to a bound, stderr kept only for
/// the error message, and a deadline after which the program and its children are killed.
/// </summary>
internal static class ExternalProgram
{
    private const int StderrKeptBytes = 8 * 1024;
    private const int StderrLines = 3;
    private const int StderrLineChars = 300;

    public static async Task<ProgramRun> RunAsync(
        IReadOnlyList<string> argv, byte[] stdin, TimeSpan timeout, int maxStdoutBytes, CancellationToken ct)
    {
        var start = new ProcessStartInfo(argv[0])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // Not the silo's working directory: the program's answer must not depend on where the service started.
            WorkingDirectory = "/",
        };
        foreach (var arg in argv.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        // Nothing of the service's environment (broker passwords, tokens, DOTNET_*) reaches the program.
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/bin:/bin";
        start.Environment["LANG"] = "C.UTF-8";

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            throw new ExternalProgramException($"{argv[0]} could not be started: {e.Message}");
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        try
        {
            var stdinWritten = WriteAndCloseAsync(process.StandardInput.BaseStream, stdin, deadline.Token);
            var stdout = ReadAsync(process.StandardOutput.BaseStream, maxStdoutBytes, deadline.Token);
            var stderr = ReadTailAsync(process.StandardError.BaseStream, StderrKeptBytes, deadline.Token);
            // WaitAsync: a child that inherited the pipes can keep them open after the program exits; the deadline
            // still ends the wait.
            var finished = Task.WhenAll(process.WaitForExitAsync(deadline.Token), stdinWritten, stdout, stderr).WaitAsync(deadline.Token);
            if (await Task.WhenAny(finished, stdout).ConfigureAwait(false) == stdout && await stdout.ConfigureAwait(false) is null)
            {
                throw new ExternalProgramException($"{argv[0]} wrote more than {maxStdoutBytes} bytes on stdout; killed");
            }

            await finished.ConfigureAwait(false);
            return new ProgramRun(process.ExitCode, (await stdout.ConfigureAwait(false))!, Tail(await stderr.ConfigureAwait(false)));
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new ExternalProgramException($"{argv[0]} gave no answer within {timeout.TotalSeconds:0.#} s; killed");
        }
        finally
        {
            KillTree(process);
        }
    }

    // The program itself and whatever it started (a shell script's children hold the same pipes).
    private static void KillTree(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or Win32Exception or NotSupportedException)
        {
            // It exited between the check and the kill.
        }
    }

    private static async Task WriteAndCloseAsync(Stream stream, byte[] bytes, CancellationToken ct)
    {
        try
        {
            await stream.WriteAsync(bytes, ct).ConfigureAwait(false);
            await stream.FlushAsync(ct).ConfigureAwait(false);
        }
        catch (IOException)
        {
            // The program exited or closed stdin without reading it all: its exit code and stdout decide.
        }
        finally
        {
            try
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
            catch (IOException)
            {
                // Same: a closed pipe.
            }
        }
    }

    /// <summary>Everything up to end of stream, or null as soon as more than <paramref name="limit"/> bytes came.</summary>
    private static async Task<byte[]?> ReadAsync(Stream stream, int limit, CancellationToken ct)
    {
        var kept = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            if (kept.Length + read > limit)
            {
                return null;
            }

            kept.Write(buffer, 0, read);
        }

        return kept.ToArray();
    }

    /// <summary>Reads to end of stream (the writer is never blocked) and keeps only the last <paramref name="keep"/> bytes or so.</summary>
    private static async Task<byte[]> ReadTailAsync(Stream stream, int keep, CancellationToken ct)
    {
        var kept = new List<byte>();
        var buffer = new byte[4096];
        int read;
        while ((read = await stream.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            kept.AddRange(buffer.AsSpan(0, read));
            if (kept.Count > 2 * keep)
            {
                kept.RemoveRange(0, kept.Count - keep);
            }
        }

        return kept.ToArray();
    }

    // The last few lines of stderr, for a one-line reason (an exception's message is usually last).
    private static string Tail(byte[] stderr)
    {
        var lines = Encoding.UTF8.GetString(stderr)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .TakeLast(StderrLines)
            .Select(l => l.Length > StderrLineChars ? l[..StderrLineChars] + "…" : l);
        return string.Join(" | ", lines);
    }
}
