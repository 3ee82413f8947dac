using System.Diagnostics;
using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.Hosting;

/// <summary>
/// <c>./run.sh install</c> into a staging root (<c>--destdir</c>), with the programs the tests run (<c>--from</c>):
/// what lands where, owned by whom, with which modes; a second run changes nothing an admin edited; and systemd's
/// own analyser accepts the installed units against that root (and notices when a unit's program is missing).
/// </summary>
public sealed class InstallTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("mep-install-root-").FullName;
    private readonly string _from = Directory.CreateTempSubdirectory("mep-install-from-").FullName;

    public void Dispose()
    {
        Directory.Delete(_root, recursive: true);
        Directory.Delete(_from, recursive: true);
    }

    [Fact]
    public async Task Install_lays_out_programs_config_and_units_idempotently()
    {
        foreach (var (project, name) in new[] { ("Silo", "silo"), ("Launcher", "launcher"), ("Endpoint", "endpoint"), ("Cli", "mep") })
        {
            Directory.CreateSymbolicLink(Path.Combine(_from, name), PublicPrograms.DirectoryOf(project));
        }

        var first = await RunAsync("bash", Path.Combine(RabbitMqNode.RepositoryRoot(), "run.sh"), "install", "--destdir", _root, "--from", _from);
        Assert.True(first.Exit == 0, first.Output);
        Assert.Contains("installed " + P("etc/mep/silo.env") + " from the example", first.Output, StringComparison.Ordinal);

        foreach (var program in new[] { "silo/mep-silo", "launcher/mep-launcher", "endpoint/mep-endpoint", "mep/mep" })
        {
            Assert.Equal("root:root 755", await StatAsync(P("opt/mep/" + program)));
        }

        Assert.Equal("root:root 755", await StatAsync(P("opt/mep/silo")));
        Assert.Equal("root:root 644", await StatAsync(P("opt/mep/silo/mep-silo.dll")));
        Assert.Equal("root:root 644", await StatAsync(P("opt/mep/README.md")));
        Assert.Equal("/opt/mep/mep/mep", new FileInfo(P("usr/local/bin/mep")).LinkTarget);
        Assert.Equal("root:mep 750", await StatAsync(P("etc/mep")));
        Assert.Equal("root:mep 640", await StatAsync(P("etc/mep/silo.env")));
        Assert.Equal("root:root 600", await StatAsync(P("etc/mep/launcher.json")));
        foreach (var unit in new[] { "mep-silo.service", "mep-launcher.service" })
        {
            Assert.Equal("root:root 644", await StatAsync(P("etc/systemd/system/" + unit)));
            Assert.Equal(await File.ReadAllTextAsync(Path.Combine(RabbitMqNode.RepositoryRoot(), "deploy", "systemd", unit)),
                await File.ReadAllTextAsync(P("etc/systemd/system/" + unit)));
        }

        Assert.Equal(0, (await RunAsync("id", "-u", "mep")).Exit);

        // Again, after the admin edited the node's settings: they stay, the programs are replaced whole.
        await File.AppendAllTextAsync(P("etc/mep/silo.env"), "Mep__Cluster__NodeName=edited-by-admin\n");
        File.WriteAllText(P("opt/mep/silo/left-over-from-an-old-version"), "");
        var second = await RunAsync("bash", Path.Combine(RabbitMqNode.RepositoryRoot(), "run.sh"), "install", "--destdir", _root, "--from", _from);
        Assert.True(second.Exit == 0, second.Output);
        Assert.Contains("kept " + P("etc/mep/silo.env"), second.Output, StringComparison.Ordinal);
        Assert.EndsWith("Mep__Cluster__NodeName=edited-by-admin\n", await File.ReadAllTextAsync(P("etc/mep/silo.env")), StringComparison.Ordinal);
        Assert.Equal("root:mep 640", await StatAsync(P("etc/mep/silo.env")));
        Assert.False(File.Exists(P("opt/mep/silo/left-over-from-an-old-version")), "the old program directory was not replaced");
        Assert.Empty(Directory.GetDirectories(P("opt/mep"), "*.new").Concat(Directory.GetDirectories(P("opt/mep"), "*.old")));

        // systemd's verifier against the staged root (with this machine's own units, as a real root has them).
        Directory.CreateDirectory(P("usr/lib/systemd"));
        var copied = await RunAsync("cp", "-a", "/usr/lib/systemd/system", P("usr/lib/systemd/"));
        Assert.True(copied.Exit == 0, copied.Output);
        var units = new[] { P("etc/systemd/system/mep-silo.service"), P("etc/systemd/system/mep-launcher.service") };
        var verified = await RunAsync("systemd-analyze", ["verify", $"--root={_root}", "--man=no", .. units]);
        Assert.True(verified.Exit == 0, verified.Output);
        File.Move(P("opt/mep/silo/mep-silo"), P("opt/mep/silo/mep-silo.moved"));
        var missing = await RunAsync("systemd-analyze", ["verify", $"--root={_root}", "--man=no", .. units]);
        Assert.NotEqual(0, missing.Exit);
        Assert.Contains("/opt/mep/silo/mep-silo", missing.Output, StringComparison.Ordinal);
    }

    private string P(string relative) => Path.Combine(_root, relative);

    private static async Task<string> StatAsync(string path) => (await RunAsync("stat", "-c", "%U:%G %a", path)).Output.Trim();

    private static async Task<(int Exit, string Output)> RunAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }
}
