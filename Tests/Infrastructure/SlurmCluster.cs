using System.Diagnostics;
using Mep.Tests.Launcher;

namespace Mep.Tests.Infrastructure;

/// <summary>
/// The machine's single-node Slurm cluster (<c>scripts/slurm-node</c>, the same script CI and run.sh use), installed
/// and started once per test run if it is not running yet, and left running: it is shared by every test class and
/// by later runs (a start takes seconds, the first install half a minute). Needs root.
/// </summary>
public static class SlurmCluster
{
    /// <summary>The account test users submit under by default; <see cref="OtherAccount"/> exists but they are not in it.</summary>
    public const string TestAccount = "mep-test";

    public const string OtherAccount = "mep-other";

    /// <summary>The default partition; <see cref="OtherPartition"/> is a second one on the same node.</summary>
    public const string DefaultPartition = "debug";

    public const string OtherPartition = "batch";

    private static readonly Lazy<Task> Started = new(StartAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    public static string ScriptPath => Path.Combine(RabbitMqNode.RepositoryRoot(), "scripts", "slurm-node");

    /// <summary>Completes once the node takes jobs. Safe to call from every test class at once.</summary>
    public static Task EnsureStartedAsync() => Started.Value;

    /// <summary>A throwaway Unix user (home directory, own group) that may submit jobs under <see cref="TestAccount"/>.</summary>
    public static async Task<string> CreateUserAsync(string prefix)
    {
        await EnsureStartedAsync();
        var name = ThrowawayUsers.UniqueName(prefix);
        await ThrowawayUsers.CreateUserAsync(name);
        await RunScriptAsync(TimeSpan.FromSeconds(60), "add-user", name, TestAccount);
        return name;
    }

    /// <summary>
    /// Removes the user. Its association stays in the accounting database, as a departed user's does on a real
    /// cluster; names are unique per run, so it never matters.
    /// </summary>
    public static Task DeleteUserAsync(string name) => ThrowawayUsers.DeleteUserAsync(name);

    /// <summary>A Slurm tool's output, run as root (scontrol release, sacct -a …); throws on a non-zero exit.</summary>
    public static Task<string> RunAsync(string program, params string[] arguments) => ThrowawayUsers.RunAsync(program, arguments);

    private static async Task StartAsync()
    {
        if (Environment.UserName != "root")
        {
            throw new InvalidOperationException("the Slurm tests need root: slurmd starts jobs as other users");
        }

        await RunScriptAsync(TimeSpan.FromMinutes(10), "install");
        await RunScriptAsync(TimeSpan.FromMinutes(5), "start");
    }

    private static async Task RunScriptAsync(TimeSpan timeout, params string[] arguments)
    {
        var psi = new ProcessStartInfo(ScriptPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot run {ScriptPath}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"slurm-node {arguments[0]} did not finish within {timeout}");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"slurm-node {string.Join(' ', arguments)} exited {process.ExitCode}: {(await stdout + await stderr).Trim()}");
        }
    }
}
