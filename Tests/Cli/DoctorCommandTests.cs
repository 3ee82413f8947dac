using Mep.Tests.EndToEnd;
using Xunit;

namespace Mep.Tests.Cli;

/// <summary>
/// <c>mep doctor</c> against the running end-to-end site (real launcher, broker, SQLite store, endpoint directories,
/// Slurm): all well with the site's own settings; with a broken endpoint, a wrong socket and a missing password file,
/// one FAIL line for each naming the fault and its fix, and exit 1.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class DoctorCommandTests(SiteFixture site) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mep-doctor-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string EnvFile()
    {
        var path = Path.Combine(_dir, "silo.env");
        File.WriteAllLines(path,
        [
            "# as /etc/mep/silo.env would be",
            $"Mep__RunAs={SiteFixture.ServiceAccount}",
            $"Mep__Endpoints__0={Path.Combine(site.Root, "endpoint")}",
            $"Mep__Endpoints__1=\"{Path.Combine(site.Root, "guarded")}\"",
            $"Mep__LauncherSocket={site.LauncherSocket}",
            $"Mep__DataDirectory={Path.Combine(site.Root, "data")}",
            "Mep__Broker__Host=127.0.0.1",
            $"Mep__Broker__AmqpPort={site.Broker.AmqpPort}",
            $"Mep__Broker__ManagementPort={site.Broker.ManagementPort}",
            $"Mep__Broker__AdminUser={site.Broker.AdminUser}",
            $"Mep__Broker__AdminPasswordFile={Path.Combine(site.Root, "broker-admin-password")}",
            $"Mep__Broker__CaFile={site.Broker.CaFile}",
        ]);
        return path;
    }

    [Fact]
    public async Task The_running_sites_settings_pass_every_check()
    {
        var run = await CliRunner.RunAsync("doctor", "--env-file", EnvFile());
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Empty(run.StderrLines);
        foreach (var subject in new[] { "service account", $"endpoint {Path.Combine(site.Root, "endpoint")}", $"endpoint {Path.Combine(site.Root, "guarded")}", "launcher", "broker", "database" })
        {
            Assert.Contains(run.StdoutLines, l => l.StartsWith($"ok    {subject}: ", StringComparison.Ordinal));
        }

        Assert.Contains(run.StdoutLines, l => l.StartsWith("ok    broker: AMQP", StringComparison.Ordinal));
        Assert.Contains(run.StdoutLines, l => l.StartsWith("ok    database: SQLite", StringComparison.Ordinal) && l.Contains("schema version", StringComparison.Ordinal));
        Assert.StartsWith("no problems found", run.StdoutLines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Each_fault_is_one_failure_line_with_its_fix_and_exit_one()
    {
        var broken = Path.Combine(_dir, "broken");
        Directory.CreateDirectory(broken);
        File.WriteAllText(Path.Combine(broken, "config.yaml"), "endpoint_id: not-a-uuid\n");

        var run = await CliRunner.RunAsync("doctor", "--env-file", EnvFile(),
            "--set", $"Mep:Endpoints:2={broken}",
            "--set", $"Mep:LauncherSocket={Path.Combine(_dir, "no-launcher.sock")}",
            "--set", $"Mep:Broker:AdminPasswordFile={Path.Combine(_dir, "no-password")}");
        Assert.Equal(1, run.ExitCode);
        var failures = run.StderrLines;
        Assert.Equal(3, failures.Length);
        Assert.All(failures, l => Assert.Contains(" — fix: ", l, StringComparison.Ordinal));
        Assert.Contains(failures, l => l.StartsWith($"FAIL  endpoint {broken}: ", StringComparison.Ordinal) && l.Contains("endpoint_id", StringComparison.Ordinal));
        Assert.Contains(failures, l => l.StartsWith("FAIL  launcher: no socket at ", StringComparison.Ordinal));
        Assert.Contains(failures, l => l.StartsWith("FAIL  broker: admin password: ", StringComparison.Ordinal));
        // The rest still passes, and the summary counts the failures.
        Assert.Contains(run.StdoutLines, l => l.StartsWith($"ok    endpoint {Path.Combine(site.Root, "endpoint")}: ", StringComparison.Ordinal));
        Assert.StartsWith("3 problem(s) found", run.StdoutLines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_set_without_a_value_is_a_usage_error()
    {
        var run = await CliRunner.RunAsync("doctor", "--set", "Mep:LauncherSocket");
        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith("mep: --set: expected KEY=VALUE", Assert.Single(run.StderrLines), StringComparison.Ordinal);
    }
}
