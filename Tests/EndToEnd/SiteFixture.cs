using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.EndToEnd;

/// <summary>
/// A whole single-node site as real processes: a private RabbitMQ node, the root launcher, the silo running as the
/// service account, two throwaway Unix users and an endpoint that maps two identities to them.
/// Everything the service account and the users must run lives in a world-readable directory under /var/tmp,
/// because the checkout itself may sit in a private directory.
/// </summary>
public sealed class SiteFixture : IAsyncLifetime
{
    public const string ServiceAccount = "mep";
    public const string EndpointId = "3c0ffee0-1d2e-4f00-9a00-00000000e2e0";

    /// <summary>
    /// An endpoint with access policies: identities of the site's own domain only, sessions of at most an hour, Bob
    /// denied. Its mapping also maps <see cref="OutsiderIdentity"/> (to Bob's account, and before Alice's rule), so a
    /// refusal of the outsider is the policy's doing, and an outsider identity linked to Alice must not count.
    /// </summary>
    public const string GuardedEndpointId = "3c0ffee0-1d2e-4f00-9a00-00000000e2e1";

    /// <summary>An endpoint that allows one function only (<see cref="OnlyFunctionId"/>, never registered).</summary>
    public const string OneFunctionEndpointId = "3c0ffee0-1d2e-4f00-9a00-00000000e2e2";

    public const string OnlyFunctionId = "0f0f0f0f-0000-4000-8000-00000000f001";

    /// <summary>An endpoint whose template passes the user's <c>workers</c> and <c>fns</c> into the UEP config model.</summary>
    public const string ConfiguredEndpointId = "3c0ffee0-1d2e-4f00-9a00-00000000e2e3";

    /// <summary>Task execution (issue 6): provider, blocks, worker_init, setup/teardown and limits from the user's config.</summary>
    public const string EngineEndpointId = "3c0ffee0-1d2e-4f00-9a00-00000000e2e4";

    /// <summary>As <see cref="EngineEndpointId"/>, with a short idle timeout: for UEPs that must go idle within a test.</summary>
    public const string QuickIdleEndpointId = "3c0ffee0-1d2e-4f00-9a00-00000000e2e5";

    /// <summary>As <see cref="EngineEndpointId"/>, with resource limits for its UEPs (<see cref="LimitedEndpointLimits"/>).</summary>
    public const string LimitedEndpointId = "3c0ffee0-1d2e-4f00-9a00-00000000e2e6";

    /// <summary>The <c>user_endpoint_limits</c> of <see cref="LimitedEndpointId"/>.</summary>
    /// <summary>An endpoint whose config.yaml a test rewrites while the silo runs (and restores).</summary>
    public const string ReloadEndpointId = "3c0ffee0-1d2e-4f00-9a00-00000000e2e7";

    public const string LimitedEndpointLimits =
        "user_endpoint_limits: {max_processes: 4096, max_open_files: 2048, max_address_space: 64GiB, memory_max: 2GiB, pids_max: 600}";

    /// <summary>Limits of the engine endpoints (config.yaml), which the tests provoke.</summary>
    public const int EngineResultSizeLimit = 20_000;
    public const int EngineOutputLines = 5;

    public static readonly TimeSpan GuardedSessionMaxAge = TimeSpan.FromHours(1);

    /// <summary>A second endpoint, served by the grain tests' own test clusters against the same launcher and broker.</summary>
    public string GrainEndpointId { get; } = Guid.NewGuid().ToString();

    private readonly string _suffix = Guid.NewGuid().ToString("N")[..6];

    public RabbitMqNode Broker { get; } = new();

    public string Root { get; private set; } = "";

    /// <summary>
    /// The site's identity provider: the silo trusts its JWKS (issuer <c>mep</c>, audience <c>mep</c>, identity set in
    /// <c>identity_set</c>). Issue any token with it: <c>site.Tokens.Issue(identity, new TestToken { AuthTime = ... })</c>.
    /// </summary>
    public TestTokenIssuer Tokens { get; } = new();

    public string JwksFile => Path.Combine(Root, "token-issuer.jwks.json");

    public string LauncherSocket => Path.Combine(Root, "launcher.sock");

    public TestUser Alice { get; private set; } = null!;

    public TestUser Bob { get; private set; } = null!;

    public string AliceIdentity => $"alice-{_suffix}@e2e.example.org";

    public string BobIdentity => $"bob-{_suffix}@e2e.example.org";

    public string EveIdentity => $"eve-{_suffix}@e2e.example.org";

    /// <summary>An admin of <see cref="EndpointId"/> (config.yaml <c>admins</c>) and of the site (Mep:SiteAdmins) that maps
    /// to no account: the admin API's and the status page's caller.</summary>
    public string AdminIdentity => $"admin-{_suffix}@e2e.example.org";

    /// <summary>An admin of <see cref="ConfiguredEndpointId"/> only (not of the site): sees that endpoint alone.</summary>
    public string ConfiguredAdminIdentity => $"cfg-admin-{_suffix}@e2e.example.org";

    /// <summary>An identity from outside the site's domain (<c>e2e.example.org</c>).</summary>
    public string OutsiderIdentity => $"carol-{_suffix}@elsewhere.example.net";

    /// <summary>The silo's audit log.</summary>
    public string AuditLog => Path.Combine(Root, "data", "audit.log");

    public int ApiPort { get; private set; }

    /// <summary>The API's address: https, with a server certificate from <see cref="Tls"/>'s CA.</summary>
    public Uri ApiBase => new($"https://127.0.0.1:{ApiPort}/");

    /// <summary>The site's private CA (what MEP_CA_FILE names for a client) and the silo's certificate.</summary>
    public TestCa Tls { get; private set; } = null!;

    public ManagedProcess? Launcher { get; private set; }

    public ManagedProcess? Silo { get; private set; }

    /// <summary>
    /// systemd's notify socket as the silo sees it (<c>NOTIFY_SOCKET</c>): a real datagram socket bound by the fixture,
    /// in the abstract namespace so that the silo, once it has dropped to the service account, may still send to it.
    /// What every start of the silo sent queues here.
    /// </summary>
    public System.Net.Sockets.Socket NotifySocket { get; } = new(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Unspecified);

    private string NotifyName => $"@mep-e2e-notify-{_suffix}";

    public async Task InitializeAsync()
    {
        await Broker.InitializeAsync();
        TestUser.EnsureSystemAccount(ServiceAccount);
        Alice = TestUser.Create("mepa");
        Bob = TestUser.Create("mepb");

        Root = Path.Combine("/var/tmp", $"mep-e2e-{_suffix}");
        Directory.CreateDirectory(Root);
        File.SetUnixFileMode(Root, (UnixFileMode)0b111_101_101);
        WriteEndpoint();
        WriteSecrets();
        Tls = TestCa.Create(Path.Combine(Root, "tls"), ServiceAccount);
        ApiPort = FreePort();

        await StartLauncherAsync();
        await StartSiloAsync();
    }

    /// <summary>Where the launcher records its UEPs, so that a restarted launcher adopts them.</summary>
    public string ReloadEndpointDir => Path.Combine(Root, "reload");

    public string LauncherStateDirectory => Path.Combine(Root, "launcher-state");

    public async Task StartLauncherAsync()
    {
        // The grain tests' in-process silos run as root; the launcher also serves root clients.
        Launcher = StartLauncherProcess("launcher", LauncherArguments(LauncherSocket, LauncherStateDirectory));
        var client = new Mep.Grains.Launching.LauncherClient(LauncherSocket);
        await Poll.UntilTrue(
            async () =>
            {
                if (Launcher.HasExited)
                {
                    throw new InvalidOperationException($"the launcher exited:\n{Launcher.Output}");
                }

                try
                {
                    await client.ListAsync(CancellationToken.None); // a socket file may be a dead launcher's
                    return true;
                }
                catch (Exception e) when (e is System.Net.Sockets.SocketException or Mep.Grains.Launching.LauncherException or IOException)
                {
                    return false;
                }
            },
            TimeSpan.FromSeconds(60),
            () => $"launcher socket; output:\n{Launcher.Output}");
    }

    /// <summary>The launcher's settings: UEPs run the public copy of mep-endpoint, the service account is its client.</summary>
    internal static string[] LauncherArguments(string socket, string stateDirectory)
    {
        var (uep, uepPrefix) = PublicPrograms.Command("Endpoint", "mep-endpoint");
        return
        [
            $"--Launcher:SocketPath={socket}",
            $"--Launcher:StateDirectory={stateDirectory}",
            $"--Launcher:UepProgram={uep}",
            .. uepPrefix.Select((argument, i) => $"--Launcher:UepProgramArguments:{i}={argument}"),
            $"--Launcher:ClientUser={ServiceAccount}",
        ];
    }

    /// <summary>The public copy of mep-launcher (native, or its dll under dotnet) with <paramref name="arguments"/>.</summary>
    internal static ManagedProcess StartLauncherProcess(string name, IEnumerable<string> arguments)
    {
        var (program, prefix) = PublicPrograms.Command("Launcher", "mep-launcher");
        return ManagedProcess.Start(name, program, [.. prefix, .. arguments]);
    }

    /// <summary>SIGKILL the launcher: its UEPs run on, recorded in <see cref="LauncherStateDirectory"/>.</summary>
    public async Task KillLauncherAsync()
    {
        if (Launcher is not null)
        {
            await Launcher.KillAsync();
        }
    }

    public async Task StartSiloAsync()
    {
        var (siloPort, gatewayPort) = (FreePort(), FreePort());
        if (!NotifySocket.IsBound)
        {
            NotifySocket.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint("\0" + NotifyName[1..]));
        }

        Silo = ManagedProcess.Start("silo", "dotnet", [
            Path.Combine(PublicPrograms.DirectoryOf("Silo"), "mep-silo.dll"),
            $"--Mep:RunAs={ServiceAccount}",
            $"--Mep:DataDirectory={Path.Combine(Root, "data")}",
            $"--Mep:Endpoints:0={Path.Combine(Root, "endpoint")}",
            $"--Mep:Endpoints:1={Path.Combine(Root, "guarded")}",
            $"--Mep:Endpoints:2={Path.Combine(Root, "one-function")}",
            $"--Mep:Endpoints:3={Path.Combine(Root, "configured")}",
            $"--Mep:Endpoints:4={Path.Combine(Root, "engine")}",
            $"--Mep:Endpoints:5={Path.Combine(Root, "quick-idle")}",
            $"--Mep:Endpoints:6={Path.Combine(Root, "limited")}",
            $"--Mep:Endpoints:7={ReloadEndpointDir}",
            $"--Mep:LauncherSocket={LauncherSocket}",
            $"--Mep:SiteAdmins:0={AdminIdentity}",
            "--Mep:Dashboard=true",
            .. Tokens.SiloArguments(JwksFile),
            $"--Mep:Api:Urls=https://127.0.0.1:{ApiPort}",
            .. Tls.SiloArguments(),
            $"--Mep:Cluster:SiloPort={siloPort}",
            $"--Mep:Cluster:GatewayPort={gatewayPort}",
            "--Mep:Broker:Host=127.0.0.1",
            $"--Mep:Broker:AmqpPort={Broker.AmqpPort}",
            $"--Mep:Broker:ManagementPort={Broker.ManagementPort}",
            $"--Mep:Broker:AdminUser={Broker.AdminUser}",
            $"--Mep:Broker:AdminPasswordFile={Path.Combine(Root, "broker-admin-password")}",
            $"--Mep:Broker:CaFile={Broker.CaFile}",
        ], new Dictionary<string, string> { ["NOTIFY_SOCKET"] = NotifyName });
        using var http = Tls.Client();
        await Poll.UntilTrue(
            async () =>
            {
                if (Silo.HasExited)
                {
                    throw new InvalidOperationException($"the silo exited:\n{Silo.Output}");
                }

                try
                {
                    return (await http.GetAsync(new Uri(ApiBase, "readyz"))).StatusCode == HttpStatusCode.OK; // broker, database, launcher, membership
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            },
            TimeSpan.FromSeconds(120),
            () => $"silo readiness; output:\n{Silo.Output}");
    }

    /// <summary>The tail of each process's output, for a failure message.</summary>
    public string Diagnostics()
    {
        static string Tail(string s) => s.Length > 6000 ? s[^6000..] : s;
        return $"--- silo:\n{Tail(Silo?.Output ?? "")}\n--- launcher:\n{Tail(Launcher?.Output ?? "")}";
    }

    public async Task KillSiloAsync()
    {
        if (Silo is not null)
        {
            await Silo.KillAsync();
        }
    }

    public Mep.Grains.Broker.BrokerOptions BrokerOptions() => new()
    {
        Host = Broker.Host,
        AmqpPort = Broker.AmqpPort,
        ManagementPort = Broker.ManagementPort,
        AdminUser = Broker.AdminUser,
        AdminPassword = Broker.AdminPassword,
        CaFile = Broker.CaFile,
    };

    /// <summary>An API client with a token for <paramref name="identity"/> (a normal sign-in unless <paramref name="token"/> says otherwise).</summary>
    public HttpClient ClientFor(string identity, TestToken? token = null) => ClientWithToken(TokenFor(identity, token));

    /// <summary>An API client that sends exactly this bearer token.</summary>
    public HttpClient ClientWithToken(string token)
    {
        var http = Tls.Client(ApiBase, TimeSpan.FromSeconds(60));
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    public string TokenFor(string identity, TestToken? token = null) => Tokens.Issue(identity, token);

    public async Task DisposeAsync()
    {
        if (Silo is not null)
        {
            await Silo.DisposeAsync();
        }

        if (Launcher is not null)
        {
            await StopUepsAsync();
            await Launcher.DisposeAsync();
        }

        Alice?.Dispose();
        Bob?.Dispose();
        await Broker.DisposeAsync();
        Tokens.Dispose();
        NotifySocket.Dispose();
        if (Root.Length > 0 && Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true);
        }
    }

    /// <summary>
    /// A launcher with a state directory leaves its UEPs running when it stops (so a restart adopts them); the site
    /// started them, so it ends them: SIGTERM through the launcher, then SIGKILL for what is left after the deadline.
    /// </summary>
    private async Task StopUepsAsync()
    {
        var client = new Mep.Grains.Launching.LauncherClient(LauncherSocket);
        try
        {
            foreach (var child in await client.ListAsync(CancellationToken.None))
            {
                await client.StopAsync(child.UepId, "term", CancellationToken.None);
            }

            await Poll.UntilTrue(async () => (await client.ListAsync(CancellationToken.None)).Count == 0, TimeSpan.FromSeconds(20), () => "UEPs still running");
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or Mep.Grains.Launching.LauncherException or IOException or TimeoutException)
        {
            foreach (var child in await SafeListAsync(client))
            {
                await client.StopAsync(child.UepId, "kill", CancellationToken.None);
            }
        }
    }

    private static async Task<IReadOnlyList<Mep.Protocol.Launcher.LauncherChild>> SafeListAsync(Mep.Grains.Launching.LauncherClient client)
    {
        try
        {
            return await client.ListAsync(CancellationToken.None);
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or Mep.Grains.Launching.LauncherException or IOException)
        {
            return [];
        }
    }

    private void WriteEndpoint()
    {
        var mappings = new Dictionary<string, string> { [AliceIdentity] = Alice.Name, [BobIdentity] = Bob.Name };
        TestEndpoint.Write(Path.Combine(Root, "endpoint"), EndpointId, TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(2), mappings,
            $"admins: [{AdminIdentity}]");
        TestEndpoint.Write(Path.Combine(Root, "guarded"), GuardedEndpointId, TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(2),
            new Dictionary<string, string> { [OutsiderIdentity] = Bob.Name, [AliceIdentity] = Alice.Name, [BobIdentity] = Bob.Name },
            $"""
            allowed_domains: [e2e.example.org]
            session_max_age: {GuardedSessionMaxAge.TotalMinutes}m
            denied_users: [{BobIdentity}]
            """);
        TestEndpoint.Write(ReloadEndpointDir, ReloadEndpointId, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2),
            mappings, $"allowed_functions: [{OnlyFunctionId}]");
        TestEndpoint.Write(Path.Combine(Root, "one-function"), OneFunctionEndpointId, TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(2),
            mappings, $"allowed_functions: [{OnlyFunctionId}]");
        TestEndpoint.Write(Path.Combine(Root, "configured"), ConfiguredEndpointId, TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(2), mappings,
            $"admins: [{ConfiguredAdminIdentity}]");
        File.WriteAllText(Path.Combine(Root, "configured", "user_config_template.yaml.j2"), """
            display_name: {{ _GC.mapped_identity.local.uname }}
            engine:
              max_workers_per_node: {{ workers }}
              provider:
                type: local
            allowed_functions: {{ fns }}
            """);
        File.WriteAllText(Path.Combine(Root, "configured", "user_config_schema.json"), "{}");
        var engineLimits = $"max_walltime: 1h\nresult_size_limit_bytes: {EngineResultSizeLimit}\noutput_lines: {EngineOutputLines}";
        TestEndpoint.Write(Path.Combine(Root, "engine"), EngineEndpointId, TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(2), mappings, engineLimits);
        TestEndpoint.Write(Path.Combine(Root, "quick-idle"), QuickIdleEndpointId, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(1), mappings, engineLimits);
        TestEndpoint.Write(Path.Combine(Root, "limited"), LimitedEndpointId, TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(2), mappings,
            engineLimits + "\n" + LimitedEndpointLimits);
        foreach (var dir in new[] { "engine", "quick-idle", "limited" })
        {
            File.WriteAllText(Path.Combine(Root, dir, "user_config_template.yaml.j2"), EngineTemplate);
            File.WriteAllText(Path.Combine(Root, dir, "user_config_schema.json"), "{}");
        }

        foreach (var dir in new[] { "endpoint", "guarded", "one-function", "configured", "engine", "quick-idle", "limited" })
        {
            TestUser.Run("chmod", ["-R", "a+rX", Path.Combine(Root, dir)], allowFailure: false);
        }
    }

    /// <summary>Every engine setting a test needs, from the user's config; Slurm settings only with <c>provider</c>.</summary>
    private const string EngineTemplate = """
        engine:
          max_workers_per_node: {{ workers | default: 4 }}
          provider:
            type: {{ provider | default: "local" }}
        {% if provider is defined %}
            exclusive: false
            walltime: "00:10:00"
        {% endif %}
        {% if partition is defined %}
            partition: {{ partition }}
        {% endif %}
        {% if account is defined %}
            account: {{ account }}
        {% endif %}
        {% if max_blocks is defined %}
            max_blocks: {{ max_blocks }}
        {% endif %}
        {% if worker_init is defined %}
            worker_init: {{ worker_init }}
        {% endif %}
        {% if setup is defined %}
        endpoint_setup: {{ setup }}
        {% endif %}
        {% if teardown is defined %}
        endpoint_teardown: {{ teardown }}
        {% endif %}
        {% if fns is defined %}
        allowed_functions: {{ fns }}
        {% endif %}
        """;

    private void WriteSecrets()
    {
        Tokens.WriteJwks(JwksFile); // public keys: the silo's account reads it, nobody but root may change it

        var passwordFile = Path.Combine(Root, "broker-admin-password");
        File.WriteAllText(passwordFile, Broker.AdminPassword);
        File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        TestUser.Run("chown", [$"{ServiceAccount}:", passwordFile], allowFailure: false);

        var data = Path.Combine(Root, "data");
        Directory.CreateDirectory(data);
        File.SetUnixFileMode(data, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        TestUser.Run("chown", [$"{ServiceAccount}:", data], allowFailure: false);
    }

    /// <summary>The dotnet host running these tests: an absolute path, as the launcher requires.</summary>
    internal static string DotnetHost() => PublicPrograms.DotnetHost;

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

[CollectionDefinition(Name)]
public sealed class SiteCollection : ICollectionFixture<SiteFixture>
{
    public const string Name = "end-to-end site";
}
