using Orleans.Configuration;

namespace Mep.Silo.Hosting;

/// <summary>
/// How fast the cluster notices a dead silo (section <c>Mep:Cluster:Membership</c>), written into Orleans'
/// <see cref="ClusterMembershipOptions"/>. Each silo probes some others; a silo that misses
/// <see cref="MissedProbesLimit"/> probes in a row, as seen by <see cref="VotesForDeath"/> silos, is declared dead
/// and its UEPs start again on live nodes. A key left unset keeps Orleans' default (production-sane: a dead node is
/// declared in a few tens of seconds, a slow one is not); a small site or a test shortens them to bound its failover
/// time, at the price of declaring a merely slow node dead.
/// </summary>
public sealed class MembershipSettings
{
    /// <summary>Time a probe (a ping of another silo) may take before it counts as missed (Orleans: 5 s).</summary>
    public TimeSpan? ProbeTimeout { get; set; }

    /// <summary>Missed probes in a row before a prober votes the silo dead (Orleans: 3).</summary>
    public int? MissedProbesLimit { get; set; }

    /// <summary>Votes needed to declare a silo dead; fewer when fewer silos are alive (Orleans: 2).</summary>
    public int? VotesForDeath { get; set; }

    /// <summary>Silos each silo probes (Orleans: 10).</summary>
    public int? ProbedSilos { get; set; }

    /// <summary>Period of a silo's I-am-alive write into the table: how old a crashed silo's row looks (Orleans: 30 s).</summary>
    public TimeSpan? IAmAlivePeriod { get; set; }

    /// <summary>Period of a silo's full read of the membership table, besides gossip (Orleans: 60 s).</summary>
    public TimeSpan? TableRefreshPeriod { get; set; }

    /// <summary>How long a dead silo's row is kept before clean-up may remove it (Orleans: 7 days).</summary>
    public TimeSpan? DefunctSiloExpiration { get; set; }

    /// <summary>Writes the keys that are set into Orleans' options; throws naming a key whose value cannot work.</summary>
    public void ApplyTo(ClusterMembershipOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ProbeTimeout = Positive(nameof(ProbeTimeout), ProbeTimeout) ?? options.ProbeTimeout;
        options.NumMissedProbesLimit = AtLeastOne(nameof(MissedProbesLimit), MissedProbesLimit) ?? options.NumMissedProbesLimit;
        options.NumVotesForDeathDeclaration = AtLeastOne(nameof(VotesForDeath), VotesForDeath) ?? options.NumVotesForDeathDeclaration;
        options.NumProbedSilos = AtLeastOne(nameof(ProbedSilos), ProbedSilos) ?? options.NumProbedSilos;
        options.IAmAliveTablePublishTimeout = Positive(nameof(IAmAlivePeriod), IAmAlivePeriod) ?? options.IAmAliveTablePublishTimeout;
        options.TableRefreshTimeout = Positive(nameof(TableRefreshPeriod), TableRefreshPeriod) ?? options.TableRefreshTimeout;
        options.DefunctSiloExpiration = Positive(nameof(DefunctSiloExpiration), DefunctSiloExpiration) ?? options.DefunctSiloExpiration;
        if (options.NumVotesForDeathDeclaration > options.NumProbedSilos)
        {
            // Orleans refuses this at start with a message that does not name our keys.
            throw new InvalidOperationException(
                $"Mep:Cluster:Membership:VotesForDeath ({options.NumVotesForDeathDeclaration}) must not exceed ProbedSilos ({options.NumProbedSilos})");
        }
    }

    // A zero probe timeout would declare every silo dead; a zero period would spin.
    private static TimeSpan? Positive(string key, TimeSpan? value) =>
        value is { } v && v <= TimeSpan.Zero
            ? throw new InvalidOperationException($"Mep:Cluster:Membership:{key} must be a positive duration, got {v}")
            : value;

    private static int? AtLeastOne(string key, int? value) =>
        value is < 1
            ? throw new InvalidOperationException($"Mep:Cluster:Membership:{key} must be at least 1, got {value}")
            : value;
}
