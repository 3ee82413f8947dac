using Mep.Contracts;
using Mep.Grains.Broker;
using Mep.Protocol.Api;
using Mep.Sdk;
using Mep.Tests.EndToEnd;
using Mep.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Mep.Tests.Grains;

/// <summary>
/// One endpoint served by a grain test cluster behind the real REST API, with the real launcher running a UEP program
/// the test writes (a shell script run as the mapped user): for the lifecycle tests (crash loops, stops, limits,
/// deleted accounts), where what the UEP process does is the point.
/// </summary>
internal sealed class LifecycleSite : IAsyncDisposable
{
    private readonly SiteFixture _site;

    private LifecycleSite(SiteFixture site, string dir, string suffix)
    {
        _site = site;
        Dir = dir;
        Suffix = suffix;
    }

    /// <summary>Under /var/tmp and world-traversable: the UEP script runs as the test users and reads it here.</summary>
    public string Dir { get; }

    public string Suffix { get; }

    public string EndpointId { get; } = Guid.NewGuid().ToString();

    public string EndpointDir => Path.Combine(Dir, "endpoint");

    public string AuditLog => Path.Combine(Dir, "audit.log");

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public ClusterApi Api { get; private set; } = null!;

    public StandInUepLauncher Launcher { get; private set; } = null!;

    /// <summary>The launcher of each node (silo i uses launcher i); the first is <see cref="Launcher"/>.</summary>
    public List<StandInUepLauncher> NodeLaunchers { get; } = [];

    /// <param name="mappings">Short names (made unique here, see <see cref="Identity"/>) → local accounts.</param>
    /// <param name="uepScript">The UEP program; null: one that waits for its signal.</param>
    /// <param name="extraConfig">More config.yaml lines; <c>{suffix}</c> becomes <see cref="Suffix"/> (for identities).</param>
    /// <param name="launcherArguments">More --Launcher:... settings for the launcher.</param>
    /// <param name="nodes">Silos, each a login node with its own launcher (<see cref="NodeLaunchers"/>).</param>
    /// <param name="siteAdmins">Short names (see <see cref="Identity"/>) of the site's admins (Mep:SiteAdmins).</param>
    public static async Task<LifecycleSite> StartAsync(
        SiteFixture site, IReadOnlyDictionary<string, string> mappings, string? uepScript = null, string extraConfig = "",
        IEnumerable<string>? launcherArguments = null, int nodes = 1, IEnumerable<string>? siteAdmins = null)
    {
        var suffix = Guid.NewGuid().ToString("N")[..6];
        var dir = Path.Combine("/var/tmp", $"mep-lifecycle-{suffix}");
        Directory.CreateDirectory(dir, (UnixFileMode)0b111_101_101);
        var lifecycle = new LifecycleSite(site, dir, suffix);
        try
        {
            TestEndpoint.Write(lifecycle.EndpointDir, lifecycle.EndpointId, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(1),
                mappings.ToDictionary(m => lifecycle.Identity(m.Key), m => m.Value), extraConfig.Replace("{suffix}", suffix, StringComparison.Ordinal));
            lifecycle.Launcher = await StandInUepLauncher.StartAsync(dir, uepScript?.Replace("{dir}", dir, StringComparison.Ordinal), launcherArguments);
            lifecycle.NodeLaunchers.Add(lifecycle.Launcher);
            for (var n = 2; n <= nodes; n++)
            {
                var nodeDir = Path.Combine(dir, $"node{n}");
                Directory.CreateDirectory(nodeDir, (UnixFileMode)0b111_101_101);
                lifecycle.NodeLaunchers.Add(await StandInUepLauncher.StartAsync(nodeDir, uepScript?.Replace("{dir}", dir, StringComparison.Ordinal), launcherArguments));
            }

            var admins = (siteAdmins ?? []).Select(lifecycle.Identity).ToList();
            lifecycle.Cluster = await GrainTestCluster.StartAsync(site, suffix, dir, lifecycle.EndpointDir, lifecycle.NodeLaunchers.Select(l => l.Socket).ToList(),
                o => o.SiteAdmins = admins);
            lifecycle.Api = await ClusterApi.StartAsync(lifecycle.Cluster, site.Tokens, dir);
            return lifecycle;
        }
        catch
        {
            await lifecycle.DisposeAsync();
            throw;
        }
    }

    /// <summary>The federated username of a test identity.</summary>
    public string Identity(string who) => $"{who}-{Suffix}@lifecycle.test";

    public string IdentityId(string who) => Mep.Protocol.Auth.MepClaims.IdentityIdFor(Identity(who)).ToString();

    public MepClient Client(string who) => new(Api.BaseAddress, _site.Tokens.Issue(Identity(who)));

    public Dictionary<string, string> CliEnvironment(string who) => new()
    {
        ["MEP_URL"] = Api.BaseAddress.AbsoluteUri,
        ["MEP_TOKEN"] = _site.Tokens.Issue(Identity(who)),
    };

    public IUserEndpointGrain Uep(string uepId) => Cluster.Client.GetGrain<IUserEndpointGrain>(uepId);

    /// <summary>Submits one run of a shell function per argument value, as <paramref name="who"/>.</summary>
    public async Task<SubmitResponse> SubmitAsync(string who, int tasks = 1, string? config = null)
    {
        using var client = Client(who);
        var function = await client.RegisterShellFunctionAsync("echo {n}");
        return await client.SubmitAsync(EndpointId, new SubmitRequest(
            Enumerable.Range(0, tasks).Select(i => new TaskSubmission(function.FunctionId, new Dictionary<string, string> { ["n"] = $"{i}" })).ToList(),
            config is null ? null : System.Text.Json.Nodes.JsonNode.Parse(config)!.AsObject()));
    }

    /// <summary>Logs in as the UEP's broker user once the grain has started its process (see <see cref="UepStandIn"/>).</summary>
    public async Task<UepStandIn> StandInAsync(string uepId)
    {
        await Poll.UntilTrue(
            async () => (await Uep(uepId).GetSnapshot()).Phase is Mep.Contracts.Model.UserEndpointPhase.Starting or Mep.Contracts.Model.UserEndpointPhase.Running,
            TimeSpan.FromMinutes(1),
            () => $"user endpoint {uepId} never started");
        var services = Cluster.GetSiloServiceProvider(Cluster.Silos[0].SiloAddress);
        return await UepStandIn.ConnectAsync(
            services.GetRequiredService<BrokerAdmin>(),
            services.GetRequiredService<Microsoft.Extensions.Options.IOptions<BrokerOptions>>().Value,
            uepId);
    }

    /// <summary>The audit logs' entries as JSON objects, every node's (<see cref="AuditLog"/> is the first node's), in time order.</summary>
    public List<System.Text.Json.JsonElement> AuditEntries() =>
        Directory.GetFiles(Dir, "audit*.log")
            .SelectMany(File.ReadAllLines)
            .Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.Clone())
            .OrderBy(e => e.GetProperty("time").GetDateTimeOffset())
            .ToList();

    public async ValueTask DisposeAsync()
    {
        if (Api is not null)
        {
            await Api.DisposeAsync();
        }

        if (Cluster is not null)
        {
            await Cluster.DisposeAsync();
        }

        foreach (var launcher in NodeLaunchers.Count > 0 ? NodeLaunchers : Launcher is null ? [] : [Launcher])
        {
            await launcher.DisposeAsync();
        }

        Directory.Delete(Dir, recursive: true);
    }
}
