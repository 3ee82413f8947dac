using System.Diagnostics;
using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.Hosting;

/// <summary>
/// The shipped unit files (deploy/systemd) as systemd's own analyser reads them: no unknown or unparsable settings,
/// the silo's sandbox rated "OK" or better, and the launcher stopping only itself (its UEPs outlive a restart).
/// </summary>
public sealed class SystemdUnitTests
{
    private static string Unit(string name) => Path.Combine(RabbitMqNode.RepositoryRoot(), "deploy", "systemd", name);

    [Theory]
    [InlineData("mep-silo.service")]
    [InlineData("mep-launcher.service")]
    public async Task Systemd_parses_every_setting(string unit)
    {
        var (_, _, stderr) = await AnalyzeSecurityAsync(unit, threshold: 100);
        Assert.DoesNotContain("Unknown", stderr, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Failed to parse", stderr, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("ignoring", stderr, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task The_silo_runs_sandboxed_with_an_exposure_of_at_most_two()
    {
        var (exit, stdout, stderr) = await AnalyzeSecurityAsync("mep-silo.service", threshold: 20);
        Assert.True(exit == 0, $"exposure above 2.0:\n{stdout[^Math.Min(400, stdout.Length)..]}\n{stderr}");
        Assert.Contains("Type=notify", await File.ReadAllTextAsync(Unit("mep-silo.service")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_launcher_unit_stops_only_the_launcher()
    {
        var lines = (await File.ReadAllLinesAsync(Unit("mep-launcher.service"))).Select(l => l.Trim()).ToList();
        Assert.Contains("KillMode=process", lines);
        Assert.Contains("RuntimeDirectoryPreserve=yes", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("ProtectSystem=", StringComparison.Ordinal) || l.StartsWith("ProtectHome=", StringComparison.Ordinal));
    }

    /// <param name="threshold">Exit non-zero above this exposure, in tenths (the report's 2.0 is 20).</param>
    private static async Task<(int Exit, string Stdout, string Stderr)> AnalyzeSecurityAsync(string unit, int threshold)
    {
        var start = new ProcessStartInfo("systemd-analyze")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList = { "security", "--offline=yes", $"--threshold={threshold}", "--no-pager", Unit(unit) },
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout, await stderr);
    }
}
