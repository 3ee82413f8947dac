using System.Net.Http.Headers;
using Mep.Tests.EndToEnd;
using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.Cluster;

/// <summary>
/// Three login nodes as real processes on one machine: each a launcher (root) and a silo (service account) with its
/// own node name, ports, launcher socket and state; all on one PostgreSQL database (membership, grain state,
/// reminders; schema applied by the real <c>mep db init</c>) and one private RabbitMQ node. Twenty throwaway Unix
/// users, each mapped from an identity of its own, and real bearer tokens. Failure detection is shortened
/// (<see cref="MembershipArguments"/>) so that a SIGKILLed node is declared dead within seconds.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public const string ServiceAccount = SiteFixture.ServiceAccount;
    public const string EndpointId = "3c0ffee0-1d2e-4f00-9a00-00000000c105";
    public const int UserCount = 20;
    public const int NodeCount = 3;

    /// <summary>Probes of 2 s, three missed in a row, one vote: a dead node is declared in about 6-10 s, yet a node
    /// that the loaded test machine stalls for a second or two is not.</summary>
    public static readonly string[] MembershipArguments =
    [
        "--Mep:Cluster:Membership:ProbeTimeout=00:00:02",
        "--Mep:Cluster:Membership:MissedProbesLimit=3",
        "--Mep:Cluster:Membership:VotesForDeath=1",
        "--Mep:Cluster:Membership:IAmAlivePeriod=00:00:05",
        "--Mep:Cluster:Membership:TableRefreshPeriod=00:00:02",
    ];

    private readonly string _suffix = Guid.NewGuid().ToString("N")[..6];
    private readonly List<TestUser> _users = [];

    public RabbitMqNode Broker { get; } = new();

    public TestTokenIssuer Tokens { get; } = new();

    public TestDatabase Database { get; private set; } = null!;

    /// <summary>The cluster's private CA; one server certificate serves every node (all on 127.0.0.1).</summary>
    public TestCa Tls { get; private set; } = null!;

    public string Root { get; private set; } = "";

    public IReadOnlyList<ClusterNode> Nodes { get; private set; } = [];

    public IReadOnlyList<TestUser> Users => _users;

    public string SiloConnectionFile => Path.Combine(Root, "db-silo.conn");

    public string IdentityOf(int user) => $"user{user}-{_suffix}@cluster.example.org";

    /// <summary>An admin of the endpoint (config.yaml <c>admins</c>), mapped to no account.</summary>
    public string AdminIdentity => $"admin-{_suffix}@cluster.example.org";

    public async Task InitializeAsync()
    {
        Root = Path.Combine("/var/tmp", $"mep-cluster-{_suffix}");
        Directory.CreateDirectory(Root);
        File.SetUnixFileMode(Root, (UnixFileMode)0b111_101_101);
        TestUser.EnsureSystemAccount(ServiceAccount);
        for (var i = 0; i < UserCount; i++)
        {
            _users.Add(TestUser.Create("mepc"));
        }

        await Broker.InitializeAsync();
        Database = await PostgresServer.CreateDatabaseAsync();
        InitDatabase();
        WriteSecrets();
        WriteEndpoint();
        Tls = TestCa.Create(Path.Combine(Root, "tls"), ServiceAccount);
        Nodes = Enumerable.Range(1, NodeCount).Select(i => new ClusterNode(this, $"node{i}", Path.Combine(Root, $"node{i}"))).ToList();
        await StartDownNodesAsync();
    }

    /// <summary>Starts every node that is not running (one after another: the machine is small).</summary>
    public async Task StartDownNodesAsync()
    {
        foreach (var node in Nodes.Where(n => !n.IsUp))
        {
            await node.StartAsync();
        }
    }

    /// <summary>An API client of <paramref name="node"/> with a fresh token for the identity of user <paramref name="user"/>.</summary>
    public HttpClient ClientFor(int user, ClusterNode node)
    {
        var http = Tls.Client(node.ApiBase, TimeSpan.FromSeconds(60));
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Tokens.Issue(IdentityOf(user)));
        return http;
    }

    public string Diagnostics() => string.Join("\n", Nodes.Select(n => n.Diagnostics()));

    internal static IEnumerable<string> LauncherArguments(ClusterNode node) => SiteFixture.LauncherArguments(node.LauncherSocket, node.LauncherState);

    internal IEnumerable<string> SiloArguments(ClusterNode node) =>
    [
        Path.Combine(PublicPrograms.DirectoryOf("Silo"), "mep-silo.dll"),
        $"--Mep:RunAs={ServiceAccount}",
        $"--Mep:DataDirectory={node.DataDirectory}",
        $"--Mep:Endpoints:0={Path.Combine(Root, "endpoint")}",
        $"--Mep:LauncherSocket={node.LauncherSocket}",
        .. Tokens.SiloArguments(Path.Combine(Root, "jwks.json")),
        $"--Mep:Api:Urls=https://127.0.0.1:{node.ApiPort}",
        .. Tls.SiloArguments(),
        $"--Mep:Cluster:NodeName={node.Name}",
        "--Mep:Cluster:Address=127.0.0.1",
        $"--Mep:Cluster:SiloPort={node.SiloPort}",
        $"--Mep:Cluster:GatewayPort={node.GatewayPort}",
        $"--Mep:Cluster:ClusterId=mep-cluster-{_suffix}",
        .. MembershipArguments,
        "--Mep:Database:Provider=postgresql",
        $"--Mep:Database:ConnectionStringFile={SiloConnectionFile}",
        "--Mep:Broker:Host=127.0.0.1",
        $"--Mep:Broker:AmqpPort={Broker.AmqpPort}",
        $"--Mep:Broker:ManagementPort={Broker.ManagementPort}",
        $"--Mep:Broker:AdminUser={Broker.AdminUser}",
        $"--Mep:Broker:AdminPasswordFile={Path.Combine(Root, "broker-admin-password")}",
        $"--Mep:Broker:CaFile={Broker.CaFile}",
    ];

    /// <summary>The schema, applied as an operator would: the real <c>mep db init</c>, granting the silos' role.</summary>
    private void InitDatabase() =>
        TestUser.Run(SiteFixture.DotnetHost(), [
            Path.Combine(PublicPrograms.BuildOutput("Cli"), "mep.dll"), "db", "init",
            "--connection-string-file", Database.OwnerConnectionFile, "--grant-to", Database.RuntimeRole,
        ], allowFailure: false);

    private void WriteSecrets()
    {
        Tokens.WriteJwks(Path.Combine(Root, "jwks.json"));
        // Three silos share the test server's connections with every other test's database: cap each silo's pool.
        WriteServiceAccountFile(SiloConnectionFile, Database.RuntimeConnectionString + ";Maximum Pool Size=30");
        WriteServiceAccountFile(Path.Combine(Root, "broker-admin-password"), Broker.AdminPassword);
    }

    private static void WriteServiceAccountFile(string path, string content)
    {
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        TestUser.Run("chown", [$"{ServiceAccount}:", path], allowFailure: false);
    }

    private void WriteEndpoint()
    {
        var dir = Path.Combine(Root, "endpoint");
        var mappings = Enumerable.Range(0, UserCount).ToDictionary(IdentityOf, i => _users[i].Name);
        TestEndpoint.Write(dir, EndpointId, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(2), mappings,
            $"max_user_endpoints_per_user: 8\nmax_starts_per_minute: 60\nmax_concurrent_starts: 32\nadmins: [{AdminIdentity}]");
        // Workers per node and a worker_init from the user's config (the restart test holds its workers back with it).
        File.WriteAllText(Path.Combine(dir, "user_config_template.yaml.j2"), """
            engine:
              max_workers_per_node: {{ workers | default: 4 }}
              provider:
                type: local
            {% if worker_init is defined %}
                worker_init: {{ worker_init }}
            {% endif %}
            """);
        File.WriteAllText(Path.Combine(dir, "user_config_schema.json"), "{}");
        TestUser.Run("chmod", ["-R", "a+rX", dir], allowFailure: false);
    }

    public async Task DisposeAsync()
    {
        foreach (var node in Nodes)
        {
            await node.StopAsync();
        }

        if (Environment.GetEnvironmentVariable("MEP_TEST_LOGS") == "1")
        {
            // The processes' whole output, for a failure the test's message cannot explain.
            var logs = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"mep-cluster-logs-{_suffix}")).FullName;
            foreach (var node in Nodes)
            {
                File.WriteAllText(Path.Combine(logs, $"{node.Name}-silo.log"), node.Silo?.Output ?? "");
                File.WriteAllText(Path.Combine(logs, $"{node.Name}-launcher.log"), node.Launcher?.Output ?? "");
                if (File.Exists(node.AuditLog))
                {
                    File.Copy(node.AuditLog, Path.Combine(logs, $"{node.Name}-audit.log"));
                }
            }
        }

        foreach (var user in _users)
        {
            user.Dispose();
        }

        await Broker.DisposeAsync();
        if (Database is not null)
        {
            await Database.DisposeAsync();
        }

        Tokens.Dispose();
        if (Root.Length > 0 && Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true);
        }
    }
}

/// <summary>Run alone, not beside the other collections: three silos, twenty UEPs and two-second probes on a small
/// machine shared with the rest of the suite could see a merely starved node declared dead.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "three-node cluster";
}
