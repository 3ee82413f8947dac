using System.Net;
using Mep.Grains.Launching;
using Mep.Tests.EndToEnd;
using Mep.Tests.Infrastructure;

namespace Mep.Tests.Cluster;

/// <summary>
/// One login node of the test cluster: a launcher and a silo as real processes, with the node's own name, ports,
/// launcher socket, launcher state and data directory (audit log). Its ports stay the same across restarts, as a
/// real node's would, so a restarted silo replaces its dead predecessor's row in the membership table.
/// </summary>
public sealed class ClusterNode(ClusterFixture cluster, string name, string root, IReadOnlyList<string>? siloOverrides = null)
{
    public string Name { get; } = name;

    public string Root { get; } = root;

    public int ApiPort { get; } = SiteFixture.FreePort();

    public int SiloPort { get; } = SiteFixture.FreePort();

    public int GatewayPort { get; } = SiteFixture.FreePort();

    public string LauncherSocket => Path.Combine(Root, "launcher.sock");

    public string LauncherState => Path.Combine(Root, "launcher-state");

    public string DataDirectory => Path.Combine(Root, "data");

    public string AuditLog => Path.Combine(DataDirectory, "audit.log");

    public Uri ApiBase => new($"https://127.0.0.1:{ApiPort}/");

    public ManagedProcess? Silo { get; private set; }

    public ManagedProcess? Launcher { get; private set; }

    public bool IsUp => Silo is { HasExited: false } && Launcher is { HasExited: false };

    public LauncherClient LauncherClient() => new(LauncherSocket);

    public async Task StartAsync()
    {
        await StartProcessesAsync();
        using var http = cluster.Tls.Client();
        await Poll.UntilTrue(async () =>
        {
            if (Silo!.HasExited)
            {
                throw new InvalidOperationException($"{Name}'s silo exited:\n{Silo.Output}");
            }

            try
            {
                return (await http.GetAsync(new Uri(ApiBase, "healthz"))).StatusCode == HttpStatusCode.OK;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(180), () => $"{Name}'s silo health; output:\n{Silo!.Output}");
    }

    /// <summary>The launcher (answering) and the silo, not waiting for the silo to join (it may be meant not to).</summary>
    public async Task StartProcessesAsync()
    {
        Directory.CreateDirectory(Root);
        File.SetUnixFileMode(Root, (UnixFileMode)0b111_101_101);
        Directory.CreateDirectory(DataDirectory);
        File.SetUnixFileMode(DataDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        TestUser.Run("chown", [$"{ClusterFixture.ServiceAccount}:", DataDirectory], allowFailure: false);
        Launcher = SiteFixture.StartLauncherProcess($"{Name} launcher", ClusterFixture.LauncherArguments(this));
        await Poll.UntilTrue(LauncherAnswersAsync, TimeSpan.FromSeconds(90), () => $"{Name}'s launcher socket; output:\n{Launcher.Output}");
        // Later command-line values win: a node may be given, say, another CA's certificate.
        Silo = ManagedProcess.Start($"{Name} silo", "dotnet", [.. cluster.SiloArguments(this), .. siloOverrides ?? []]);
    }

    /// <summary>
    /// The node's death: its silo, its launcher and every UEP its launcher started, with all their workers, SIGKILLed
    /// together. The UEPs must go too: they run in sessions of their own and would otherwise outlive the "node" and
    /// keep taking tasks. Returns how many processes died.
    /// </summary>
    public async Task<int> KillAsync()
    {
        var ueps = await UepPidsAsync();
        var roots = new List<int>(ueps);
        roots.AddRange(new[] { Silo, Launcher }.Where(p => p is { HasExited: false }).Select(p => p!.Pid));
        var killed = ProcessTree.KillWithDescendants(roots);
        foreach (var process in new[] { Silo, Launcher })
        {
            if (process is not null)
            {
                await process.KillAsync(); // reaps it
            }
        }

        return killed.Count;
    }

    /// <summary>Pids of the UEP processes this node's launcher runs (none when it does not answer).</summary>
    public async Task<IReadOnlyList<int>> UepPidsAsync()
    {
        try
        {
            return (await LauncherClient().ListAsync(CancellationToken.None)).Select(c => c.Pid).ToList();
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or LauncherException or IOException)
        {
            return [];
        }
    }

    /// <summary>A graceful stop at the end of the run: silo, then the UEPs, then the launcher.</summary>
    public async Task StopAsync()
    {
        if (Silo is not null)
        {
            await Silo.DisposeAsync();
        }

        ProcessTree.KillWithDescendants(await UepPidsAsync());
        if (Launcher is not null)
        {
            await Launcher.DisposeAsync();
        }
    }

    public string Diagnostics()
    {
        static string Tail(string? s) => s is null ? "" : s.Length > 4000 ? s[^4000..] : s;
        return $"--- {Name} silo:\n{Tail(Silo?.Output)}\n--- {Name} launcher:\n{Tail(Launcher?.Output)}";
    }

    private async Task<bool> LauncherAnswersAsync()
    {
        if (Launcher!.HasExited)
        {
            throw new InvalidOperationException($"{Name}'s launcher exited:\n{Launcher.Output}");
        }

        try
        {
            await LauncherClient().ListAsync(CancellationToken.None); // the socket file may be a dead launcher's
            return true;
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or LauncherException or IOException)
        {
            return false;
        }
    }
}
