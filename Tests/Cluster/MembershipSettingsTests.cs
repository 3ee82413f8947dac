using Mep.Silo.Hosting;
using Microsoft.Extensions.Configuration;
using Orleans.Configuration;
using Xunit;

namespace Mep.Tests.Cluster;

/// <summary>Mep:Cluster:Membership:* as the silo binds it from its configuration into Orleans' membership options.</summary>
public sealed class MembershipSettingsTests
{
    private static ClusterMembershipOptions Apply(Dictionary<string, string?> keys)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(keys).Build();
        var settings = configuration.GetSection("Mep").Get<SiloSettings>() ?? new SiloSettings();
        var options = new ClusterMembershipOptions();
        settings.Cluster.Membership.ApplyTo(options);
        return options;
    }

    [Fact]
    public void Keys_that_are_set_reach_orleans_and_the_others_keep_its_defaults()
    {
        var defaults = new ClusterMembershipOptions();
        var options = Apply(new()
        {
            ["Mep:Cluster:Membership:ProbeTimeout"] = "00:00:01",
            ["Mep:Cluster:Membership:MissedProbesLimit"] = "2",
            ["Mep:Cluster:Membership:VotesForDeath"] = "1",
            ["Mep:Cluster:Membership:IAmAlivePeriod"] = "00:00:03",
            ["Mep:Cluster:Membership:TableRefreshPeriod"] = "00:00:02",
        });

        Assert.Equal(TimeSpan.FromSeconds(1), options.ProbeTimeout);
        Assert.Equal(2, options.NumMissedProbesLimit);
        Assert.Equal(1, options.NumVotesForDeathDeclaration);
        Assert.Equal(TimeSpan.FromSeconds(3), options.IAmAliveTablePublishTimeout);
        Assert.Equal(TimeSpan.FromSeconds(2), options.TableRefreshTimeout);
        Assert.Equal(defaults.NumProbedSilos, options.NumProbedSilos);
        Assert.Equal(defaults.DefunctSiloExpiration, options.DefunctSiloExpiration);
    }

    [Fact]
    public void Without_keys_every_value_is_orleans_default()
    {
        var defaults = new ClusterMembershipOptions();
        var options = Apply([]);
        Assert.Equal(
            (defaults.ProbeTimeout, defaults.NumMissedProbesLimit, defaults.NumVotesForDeathDeclaration, defaults.IAmAliveTablePublishTimeout, defaults.TableRefreshTimeout),
            (options.ProbeTimeout, options.NumMissedProbesLimit, options.NumVotesForDeathDeclaration, options.IAmAliveTablePublishTimeout, options.TableRefreshTimeout));
    }

    [Theory]
    [InlineData("ProbeTimeout", "00:00:00")]
    [InlineData("MissedProbesLimit", "0")]
    [InlineData("VotesForDeath", "11")]
    public void A_value_that_cannot_work_is_refused_naming_its_key(string key, string value)
    {
        var e = Assert.Throws<InvalidOperationException>(() => Apply(new() { [$"Mep:Cluster:Membership:{key}"] = value }));
        Assert.Contains(key, e.Message, StringComparison.Ordinal);
    }
}
