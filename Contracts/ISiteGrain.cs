using Mep.Contracts.Model;
using Orleans.Concurrency;

namespace Mep.Contracts;

/// <summary>
/// Site-wide decisions that outlive any one node, kept in one durable grain (key <see cref="Key"/>): which login
/// nodes are drained, i.e. take no new user endpoint processes while those they run finish. Changing or listing
/// them is for the site's admins (<c>Mep:SiteAdmins</c>); anyone else gets 403. Audited as <c>node-drain</c> and
/// <c>node-undrain</c>.
/// </summary>
[Alias("mep.site")]
public interface ISiteGrain : IGrainWithStringKey
{
    public const string Key = "site";

    /// <summary>For placement: the drained node names.</summary>
    [Alias("drained"), ReadOnly, AlwaysInterleave]
    Task<IReadOnlySet<string>> GetDrainedNodes();

    /// <summary>Every node the cluster knows as active, and every drained one, for a site admin.</summary>
    [Alias("list-nodes"), ReadOnly, AlwaysInterleave]
    Task<IReadOnlyList<NodeStatus>> ListNodes(CallerIdentity caller);

    /// <summary>Drains (true) or returns to service (false) a node, for a site admin; the node as it is afterwards.</summary>
    [Alias("set-drained")]
    Task<NodeStatus> SetDrained(CallerIdentity caller, string node, bool drained);
}
