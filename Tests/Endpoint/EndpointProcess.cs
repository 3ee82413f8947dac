using System.Diagnostics;
using System.Text;
using Mep.Protocol;
using Mep.Protocol.Launcher;
using Mep.Tests.Infrastructure;

namespace Mep.Tests.Endpoint;

/// <summary>The real mep-endpoint program as a child process, fed a start document on stdin like the launcher does.</summary>
internal sealed class EndpointProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();

    private EndpointProcess(Process process)
    {
        _process = process;
    }

    /// <summary>
    /// The program from its own build output (the copy in the test directory resolves some assemblies from the ASP.NET
    /// shared framework and fails to start), in a directory every test user can reach.
    /// </summary>
    public static string ProgramPath => Path.Combine(PublicPrograms.DirectoryOf("Endpoint"), "mep-endpoint");

    public bool HasExited => _process.HasExited;

    public int Pid => _process.Id;

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public static EndpointProcess Start(UepStartDocument doc, string home, string? asUser = null, IReadOnlyDictionary<string, string?>? environment = null) =>
        Start(Encoding.UTF8.GetBytes(ProtocolJson.Serialize(doc)), home, asUser, environment);

    /// <param name="asUser">Run as this account with a clean environment, the way mep-launcher starts it (needs root).</param>
    /// <param name="environment">Variables to set; a null value removes the variable.</param>
    public static EndpointProcess Start(byte[] stdin, string home, string? asUser = null, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var psi = new ProcessStartInfo(ProgramPath)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = home,
        };
        if (asUser is not null)
        {
            psi.UserName = asUser;
            psi.Environment.Clear();
            psi.Environment["USER"] = asUser;
            psi.Environment["LOGNAME"] = asUser;
            psi.Environment["SHELL"] = "/bin/sh";
            psi.Environment["PATH"] = "/usr/local/bin:/usr/bin:/bin";
        }

        psi.Environment["HOME"] = home;
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                psi.Environment.Remove(name);
            }
            else
            {
                psi.Environment[name] = value;
            }
        }
        var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start mep-endpoint");
        var endpoint = new EndpointProcess(process);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (endpoint._stderr)
                {
                    endpoint._stderr.AppendLine(e.Data);
                }
            }
        };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        process.StandardInput.BaseStream.Write(stdin);
        process.StandardInput.Close();
        return endpoint;
    }

    /// <summary>The exit code, or null if it is still running at the deadline.</summary>
    public async Task<int?> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return _process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
    }
}
