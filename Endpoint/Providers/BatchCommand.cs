using System.ComponentModel;
using System.Diagnostics;

namespace Mep.Endpoint.Providers;

/// <summary>What one run of a scheduler tool gave back.</summary>
internal sealed record BatchCommandResult(int ExitCode, string Stdout, string Stderr)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>The tool's own complaint, one line per line it wrote, for a user-facing message.</summary>
    public string Message => Stderr.Trim().Length > 0 ? Stderr.Trim() : Stdout.Trim().Length > 0 ? Stdout.Trim() : $"exit code {ExitCode}";
}

/// <summary>
/// How scheduler tools are run: who as, with which environment, for how long. The UEP already runs as the user, so
/// production leaves <see cref="RunAsUser"/> null; tests running as root set it to submit as a created user.
/// </summary>
internal sealed record BatchCommandContext
{
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Run the tools as this user (needs root; tests only). Null: as this process.</summary>
    public string? RunAsUser { get; init; }

    /// <summary>Variables set or replaced for the tools (the job inherits sbatch's environment). Null values remove a variable.</summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }

    /// <summary>The tools' working directory; null: this process's.</summary>
    public string? WorkingDirectory { get; init; }
}

/// <summary>
/// Runs one scheduler command-line tool (sbatch, squeue, qsub…) with an argument list, never through a shell, with
/// optional standard input, and captures its output. A scheduler provider is a thin layer of these calls.
/// </summary>
internal static class BatchCommand
{
    public static async Task<BatchCommandResult> RunAsync(
        string program, IEnumerable<string> arguments, string? stdin, BatchCommandContext context, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }

        TrustStoreLocation.ForChild(psi);
        if (context.WorkingDirectory is { } cwd)
        {
            psi.WorkingDirectory = cwd;
        }

        if (context.RunAsUser is { } user)
        {
            psi.UserName = user;
        }

        foreach (var (name, value) in context.Environment ?? new Dictionary<string, string?>())
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

        using var process = new Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            throw new ProviderException($"cannot run {program}: {e.Message}");
        }

        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(context.Timeout);
        try
        {
            try
            {
                if (stdin is not null)
                {
                    await process.StandardInput.WriteAsync(stdin.AsMemory(), timeout.Token);
                }

                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // The tool exited without reading its input; its exit code and stderr say why.
            }

            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            if (ct.IsCancellationRequested)
            {
                throw;
            }

            throw new ProviderException($"{program} did not answer within {context.Timeout.TotalSeconds:0} s");
        }

        return new BatchCommandResult(process.ExitCode, await stdout, await stderr);
    }
}
