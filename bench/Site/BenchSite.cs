using System.Globalization;
using System.Net;

namespace Mep.Bench.Site;

/// <summary>
/// A private single-node site as <c>./run.sh</c> runs one: a RabbitMQ node of its own (scripts/rabbitmq-node), the
/// root launcher, the silo as the service account on SQLite, a token key, the bench endpoint and its Unix account.
/// Everything lives under <see cref="SiteSettings.RuntimeDirectory"/> and on the harness's own ports; disposing
/// stops it all (UEPs through the launcher's exit, which ends children it does not keep in a state directory).
/// </summary>
internal sealed class BenchSite : IAsyncDisposable
{
    private readonly SiteSettings _settings;
    private readonly Action<string> _say;
    private bool _brokerStarted;

    private BenchSite(SiteSettings settings, Action<string> say)
    {
        _settings = settings;
        _say = say;
    }

    public SiteSettings Settings => _settings;

    public SiteProcess? Launcher { get; private set; }

    public SiteProcess? Silo { get; private set; }

    public string BrokerDirectory => Path.Combine(_settings.RuntimeDirectory, "rabbitmq");

    public string BrokerAdminPassword { get; private set; } = "";

    public string KeyFile => Path.Combine(_settings.RuntimeDirectory, "token-signing.key");

    /// <summary>The private CA and server certificate, made by <c>mep tls init</c> as run.sh makes them.</summary>
    public string TlsDirectory => Path.Combine(_settings.RuntimeDirectory, "tls");

    /// <summary>The CA the site's clients trust (MEP_CA_FILE).</summary>
    public string CaFile => Path.Combine(TlsDirectory, "ca.pem");

    public string AuditLog => Path.Combine(_settings.RuntimeDirectory, "data", "audit.log");

    public string EndpointProgram => Path.Combine(_settings.BinDirectory, "endpoint", "mep-endpoint");

    public int BenchUid { get; private set; }

    public static async Task<BenchSite> StartAsync(SiteSettings settings, Action<string> say, CancellationToken ct)
    {
        var site = new BenchSite(settings, say);
        try
        {
            await site.StartAllAsync(ct);
            return site;
        }
        catch
        {
            await site.DisposeAsync();
            throw;
        }
    }

    private async Task StartAllAsync(CancellationToken ct)
    {
        var root = _settings.RuntimeDirectory;
        var marker = Path.Combine(root, ".mep-bench-site");
        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
        {
            // Emptied only when an earlier run made it: a mistyped --runtime must not delete someone's directory.
            if (!File.Exists(marker))
            {
                throw new SiteFailedException($"--runtime {root} is not empty and no earlier mep-bench site made it: choose another directory");
            }
            // A previous run's broker may still run if that run was killed: stop it before its files go.
            await Commands.RunAsync(Script, ["stop", Path.Combine(root, "rabbitmq")], ct, allowFailure: true);
            Directory.Delete(root, recursive: true);
        }
        Directory.CreateDirectory(_settings.LogDirectory);
        await File.WriteAllTextAsync(marker, "made by mep-bench site; emptied by its next run\n", ct);
        File.SetUnixFileMode(root, (UnixFileMode)0b111_101_101); // the service account and the bench user reach programs through it

        await EnsureAccountsAsync(ct);
        await MakeCertificatesAsync(ct);
        await StartBrokerAsync(ct);
        await WriteSecretsAsync(ct);
        BenchEndpoint.Write(Path.Combine(root, "endpoint"), _settings.BenchUser);
        await Commands.RunAsync("chmod", ["-R", "a+rX", Path.Combine(root, "endpoint")], ct);
        await StartLauncherAsync(ct);
        await StartSiloAsync(ct);
    }

    private string Script => Path.Combine(_settings.RepoDirectory, "scripts", "rabbitmq-node");

    private async Task EnsureAccountsAsync(CancellationToken ct)
    {
        if (!await Commands.SucceedsAsync("id", ["-u", _settings.ServiceAccount], ct))
        {
            await Commands.RunAsync("useradd", ["--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", _settings.ServiceAccount], ct);
        }
        if (!await Commands.SucceedsAsync("id", ["-u", _settings.BenchUser], ct))
        {
            _say($"creating the bench account {_settings.BenchUser}");
            await Commands.RunAsync("useradd", ["--create-home", "--shell", "/bin/sh", _settings.BenchUser], ct);
        }
        BenchUid = int.Parse((await Commands.RunAsync("id", ["-u", _settings.BenchUser], ct)).Trim(), CultureInfo.InvariantCulture);
    }

    private async Task StartBrokerAsync(CancellationToken ct)
    {
        _say($"starting RabbitMQ (amqp 127.0.0.1:{_settings.AmqpPort}, management 127.0.0.1:{_settings.ManagementPort})");
        _brokerStarted = true;
        var ports = new[] { _settings.AmqpPort, _settings.ManagementPort }.Select(p => p.ToString(CultureInfo.InvariantCulture));
        await Commands.RunAsync(Script, ["start", BrokerDirectory, .. ports], ct, new Dictionary<string, string>
        {
            ["RABBITMQ_TLS_CA"] = CaFile,
            ["RABBITMQ_TLS_CERT"] = Path.Combine(TlsDirectory, "server.pem"),
            ["RABBITMQ_TLS_KEY"] = Path.Combine(TlsDirectory, "server.key"),
        });
        await Commands.RunAsync(Script, ["wait", BrokerDirectory, "120"], ct);
        BrokerAdminPassword = (await File.ReadAllTextAsync(Path.Combine(BrokerDirectory, "admin-password"), ct)).Trim();
    }

    private async Task WriteSecretsAsync(CancellationToken ct)
    {
        var root = _settings.RuntimeDirectory;
        var account = $"{_settings.ServiceAccount}:";
        var password = Path.Combine(root, "broker-admin-password");
        await File.WriteAllTextAsync(password, BrokerAdminPassword, ct);
        File.SetUnixFileMode(password, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await Commands.RunAsync("chown", [account, password], ct);

        var data = Path.Combine(root, "data");
        Directory.CreateDirectory(data);
        File.SetUnixFileMode(data, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await Commands.RunAsync("chown", [account, data], ct);

        // The development key as run.sh makes it: private half root's, the JWKS readable by the silo's account.
        await Commands.RunAsync(Path.Combine(_settings.BinDirectory, "mep", "mep"), ["token", "key", "create", KeyFile, "--jwks", Jwks], ct);
        File.SetUnixFileMode(Jwks, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }

    /// <summary>
    /// The site's CA and server certificate, as run.sh makes them: the API and the broker are measured over https and
    /// AMQPS, as a site serves them. The silo's account reads the server key; the CA file is everyone's.
    /// </summary>
    private async Task MakeCertificatesAsync(CancellationToken ct)
    {
        await Commands.RunAsync(Path.Combine(_settings.BinDirectory, "mep", "mep"), ["tls", "init", TlsDirectory], ct);
        File.SetUnixFileMode(TlsDirectory, (UnixFileMode)0b111_101_101);
        await Commands.RunAsync("chown", [$"{_settings.ServiceAccount}:", Path.Combine(TlsDirectory, "server.key")], ct);
    }

    private string Jwks => KeyFile + ".jwks.json";

    /// <summary>A bearer token for the bench identity, signed as <c>mep token issue</c> signs one.</summary>
    public async Task<string> IssueTokenAsync(CancellationToken ct) =>
        (await Commands.RunAsync(Path.Combine(_settings.BinDirectory, "mep", "mep"),
            ["token", "issue", "--identity", BenchEndpoint.Identity, "--key-file", KeyFile, "--lifetime", "12h"], ct)).Trim();

    private async Task StartLauncherAsync(CancellationToken ct)
    {
        var socket = Path.Combine(_settings.RuntimeDirectory, "launcher.sock");
        _say("starting the launcher");
        // No StateDirectory: when this launcher stops, the UEPs it started stop with it (nothing outlives the run).
        Launcher = SiteProcess.Start("launcher", Path.Combine(_settings.BinDirectory, "launcher", "mep-launcher"), [
            $"--Launcher:SocketPath={socket}",
            $"--Launcher:UepProgram={EndpointProgram}",
            $"--Launcher:ClientUser={_settings.ServiceAccount}",
        ], _settings.LogDirectory);
        await WaitAsync("the launcher", Launcher, () => Task.FromResult(File.Exists(socket)), ct);
    }

    private async Task StartSiloAsync(CancellationToken ct)
    {
        var root = _settings.RuntimeDirectory;
        _say($"starting the silo (API {_settings.ApiUrl})");
        Silo = SiteProcess.Start("silo", Path.Combine(_settings.BinDirectory, "silo", "mep-silo"), [
            $"--Mep:RunAs={_settings.ServiceAccount}",
            $"--Mep:DataDirectory={Path.Combine(root, "data")}",
            $"--Mep:Endpoints:0={Path.Combine(root, "endpoint")}",
            $"--Mep:LauncherSocket={Path.Combine(root, "launcher.sock")}",
            "--Mep:Auth:Issuers:0:Issuer=mep",
            $"--Mep:Auth:Issuers:0:JwksFile={Jwks}",
            "--Mep:Auth:Issuers:0:Audiences:0=mep",
            "--Mep:Auth:Issuers:0:IdentitySetClaim=identity_set",
            $"--Mep:Api:Urls={_settings.ApiUrl}",
            $"--Mep:Tls:CertificateFile={Path.Combine(TlsDirectory, "server.pem")}",
            $"--Mep:Tls:KeyFile={Path.Combine(TlsDirectory, "server.key")}",
            $"--Mep:Cluster:Tls:CertificateFile={Path.Combine(TlsDirectory, "server.pem")}",
            $"--Mep:Cluster:Tls:KeyFile={Path.Combine(TlsDirectory, "server.key")}",
            $"--Mep:Cluster:Tls:CaFile={CaFile}",
            Invariant($"--Mep:Cluster:SiloPort={_settings.SiloPort}"),
            Invariant($"--Mep:Cluster:GatewayPort={_settings.GatewayPort}"),
            "--Mep:Broker:Host=127.0.0.1",
            Invariant($"--Mep:Broker:AmqpPort={_settings.AmqpPort}"),
            Invariant($"--Mep:Broker:ManagementPort={_settings.ManagementPort}"),
            "--Mep:Broker:AdminUser=admin",
            $"--Mep:Broker:AdminPasswordFile={Path.Combine(root, "broker-admin-password")}",
            $"--Mep:Broker:CaFile={CaFile}",
            .. _settings.SiloSettings.Select(setting => $"--Mep:{setting}"),
        ], _settings.LogDirectory);
        using var http = new HttpClient(Mep.Sdk.MepTls.CreateHandler(CaFile)) { Timeout = TimeSpan.FromSeconds(5) };
        await WaitAsync("the silo", Silo, async () =>
        {
            try
            {
                using var response = await http.GetAsync(new Uri($"{_settings.ApiUrl}/healthz"), ct);
                return response.StatusCode == HttpStatusCode.OK;
            }
            catch (HttpRequestException)
            {
                return false;
            }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested)
            {
                return false;
            }
        }, ct);
    }

    private async Task WaitAsync(string what, SiteProcess process, Func<Task<bool>> ready, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + _settings.StartTimeout;
        while (!await ready())
        {
            if (process.HasExited)
            {
                throw new SiteFailedException($"{what} exited while starting; {process.LogPath}:\n{process.Tail()}");
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new SiteFailedException($"{what} did not come up within {_settings.StartTimeout.TotalSeconds:F0} s; {process.LogPath}:\n{process.Tail()}");
            }
            await Task.Delay(200, ct);
        }
    }

    /// <summary>Fails the run when the silo or launcher died under it: no figure from a broken site.</summary>
    public void EnsureAlive()
    {
        foreach (var part in new[] { Silo, Launcher })
        {
            if (part is { HasExited: true })
            {
                throw new SiteFailedException($"the {part.Name} exited during the run; {part.LogPath}:\n{part.Tail()}");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _say("stopping the site");
        if (Silo is not null)
        {
            await Silo.DisposeAsync();
        }
        if (Launcher is not null)
        {
            await Launcher.DisposeAsync();
        }
        UepProcesses.KillAll(BenchUid, EndpointProgram); // anything the launcher left behind, by pid
        if (_brokerStarted)
        {
            await Commands.RunAsync(Script, ["stop", BrokerDirectory], CancellationToken.None, allowFailure: true);
        }
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

/// <summary>The site did not come up, or a part of it died: the run must not report figures.</summary>
internal sealed class SiteFailedException(string message) : Exception(message);
