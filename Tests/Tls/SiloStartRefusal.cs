using System.Diagnostics;

namespace Mep.Tests.Tls;

/// <summary>The real silo started with settings it must refuse at start: its exit code and what it printed.</summary>
internal static class SiloStartRefusal
{
    public static async Task<(int ExitCode, string Stderr, string Stdout)> RunAsync(params string[] settings)
    {
        var psi = new ProcessStartInfo("dotnet", [Path.Combine(Infrastructure.PublicPrograms.DirectoryOf("Silo"), "mep-silo.dll"), .. settings])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var silo = Process.Start(psi)!;
        var stderr = silo.StandardError.ReadToEndAsync();
        var stdout = silo.StandardOutput.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await silo.WaitForExitAsync(deadline.Token);
        return (silo.ExitCode, await stderr, await stdout);
    }
}
