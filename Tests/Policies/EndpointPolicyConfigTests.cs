using Mep.Grains.Endpoints;
using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.Policies;

/// <summary>Policies as an admin writes them in config.yaml: loaded, or refused at start naming the field.</summary>
public sealed class EndpointPolicyConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mep-policy-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string policies)
    {
        TestEndpoint.Write(_dir, Guid.NewGuid().ToString(), TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(5),
            new Dictionary<string, string> { ["alice@example.org"] = "mep-alice" }, policies);
        return _dir;
    }

    /// <summary>The policy of the endpoint in the directory (the mapping file's watcher stopped at once).</summary>
    private static Mep.Grains.Policies.EndpointPolicy Load(string dir)
    {
        var endpoint = EndpointCatalog.Load(dir, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        endpoint.Dispose();
        return endpoint.Policy;
    }

    [Fact]
    public void The_policy_keys_are_read_from_config_yaml()
    {
        var policy = Load(Write("""
            allowed_domains: [example.org, "*.anl.gov"]
            session_max_age: 12h
            admins: [admin@example.org]
            allowed_users: [alice@example.org, 7f3c1a52-8c1e-4b43-9a55-3f1f4bd1e0a1]
            denied_users: [mallory@example.org]
            """));
        Assert.Equal(["example.org", "*.anl.gov"], policy.AllowedDomains.Select(d => d.Text));
        Assert.Equal(TimeSpan.FromHours(12), policy.SessionMaxAge);
        Assert.Equal(1, policy.Admins.Count);
        Assert.Equal(2, policy.AllowedUsers.Count);
        Assert.Equal(1, policy.DeniedUsers.Count);
    }

    [Fact]
    public void Without_policy_keys_the_endpoint_is_open()
    {
        var policy = Load(Write(""));
        Assert.Empty(policy.AllowedDomains);
        Assert.Null(policy.SessionMaxAge);
        Assert.Equal(0, policy.AllowedUsers.Count + policy.DeniedUsers.Count + policy.Admins.Count);
    }

    [Theory]
    [InlineData("allowed_domains: [\"*\"]", "allowed_domains: '*' is not a domain")]
    [InlineData("session_max_age: soon", "session_max_age: 'soon' is not a duration")]
    [InlineData("denied_users: [mallory]", "denied_users: 'mallory' is neither an identity id")]
    [InlineData("admins: [root]", "admins: 'root' is neither an identity id")]
    [InlineData("alowed_domains: [example.org]", "alowed_domains")]
    public void A_bad_policy_stops_the_endpoint_from_loading_with_the_file_and_field_named(string yaml, string expected)
    {
        var e = Assert.Throws<InvalidOperationException>(() => Load(Write(yaml)));
        Assert.Contains("config.yaml", e.Message);
        Assert.Contains(expected, e.Message);
    }
}
