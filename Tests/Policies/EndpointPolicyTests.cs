using Mep.Contracts.Model;
using Mep.Grains.Policies;
using Xunit;

namespace Mep.Tests.Policies;

public sealed class EndpointPolicyTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private static LinkedIdentity Id(string username, string? status = "used", string? id = null) =>
        LinkedIdentity.Of(id ?? Guid.NewGuid().ToString(), username, username.Split('@')[^1], null, null, status);

    private static CallerIdentity Caller(string username, DateTimeOffset? authTime = null, params LinkedIdentity[] linked) =>
        new(Guid.NewGuid().ToString(), username, username.Split('@')[^1], null, null) { LinkedIdentities = linked, AuthTime = authTime };

    private static EndpointPolicy Policy(
        string[]? domains = null, TimeSpan? session = null, string[]? admins = null, string[]? allowed = null, string[]? denied = null) =>
        new((domains ?? []).Select(d => DomainPattern.Parse(d, "allowed_domains")).ToList(), session,
            new IdentityList(admins ?? [], "admins"), new IdentityList(allowed ?? [], "allowed_users"), new IdentityList(denied ?? [], "denied_users"));

    [Fact]
    public void An_open_policy_allows_everyone_and_offers_the_whole_identity_set_to_mapping()
    {
        var caller = Caller("alice@example.org", null, Id("alice@example.org"), Id("alice@other.edu", "private"));
        var decision = EndpointPolicy.Open.Evaluate(caller, Now);
        Assert.True(decision.Allowed);
        Assert.Equal(["alice@example.org", "alice@other.edu"], decision.Considered.Select(i => i.Username));
        Assert.False(decision.IsAdmin);
    }

    [Theory]
    [InlineData("example.org", "a@example.org", true)]
    [InlineData("example.org", "a@EXAMPLE.org", true)]
    [InlineData("example.org", "a@sub.example.org", false)]
    [InlineData("example.org", "a@example.org.evil.com", false)]
    [InlineData("example.org", "a@badexample.org", false)]
    [InlineData("*.anl.gov", "a@cels.anl.gov", true)]
    [InlineData("*.anl.gov", "a@x.y.anl.gov", true)]
    [InlineData("*.anl.gov", "a@anl.gov", false)]
    [InlineData("*.anl.gov", "a@evilanl.gov", false)]
    [InlineData("example.org", "example.org", false)]
    [InlineData("example.org", "a@b@example.org", true)]
    public void Domains_match_the_part_after_the_last_at_sign(string pattern, string username, bool matches) =>
        Assert.Equal(matches, DomainPattern.Parse(pattern, "allowed_domains").Matches(username));

    [Theory]
    [InlineData("")]
    [InlineData("*")]
    [InlineData("*.")]
    [InlineData("a.*.org")]
    [InlineData("user@example.org")]
    [InlineData("example..org")]
    public void A_domain_pattern_that_could_never_match_as_meant_is_refused_naming_the_field(string pattern)
    {
        var e = Assert.Throws<FormatException>(() => DomainPattern.Parse(pattern, "allowed_domains"));
        Assert.StartsWith("allowed_domains: ", e.Message);
    }

    [Fact]
    public void Only_identities_in_the_allowed_domains_are_considered()
    {
        var caller = Caller("alice@gmail.com", null, Id("alice@gmail.com"), Id("alice@cels.anl.gov", "private"), Id("ali@anl.gov"));
        var decision = Policy(domains: ["*.anl.gov"]).Evaluate(caller, Now);
        Assert.True(decision.Allowed);
        Assert.Equal(["alice@cels.anl.gov"], decision.Considered.Select(i => i.Username));
    }

    [Fact]
    public void A_caller_with_no_identity_in_the_allowed_domains_is_refused_with_both_lists_named()
    {
        var decision = Policy(domains: ["example.org", "*.anl.gov"]).Evaluate(Caller("eve@evil.com"), Now);
        Assert.False(decision.Allowed);
        Assert.Equal("none of your identities (eve@evil.com) is in a domain this endpoint allows (example.org, *.anl.gov)", decision.Refusal);
        Assert.Empty(decision.Considered);
    }

    [Fact]
    public void A_denied_identity_anywhere_in_the_set_refuses_the_caller_even_outside_the_allowed_domains()
    {
        var caller = Caller("bob@example.org", null, Id("bob@example.org"), Id("bob@old.edu", "private"));
        var decision = Policy(domains: ["example.org"], denied: ["bob@old.edu"]).Evaluate(caller, Now);
        Assert.Equal("identity bob@old.edu is denied access to this endpoint", decision.Refusal);
    }

    [Fact]
    public void Users_are_listed_by_identity_id_or_username_without_case()
    {
        var id = Guid.NewGuid();
        var byId = Caller("x@example.org", null, Id("x@example.org", id: id.ToString().ToUpperInvariant()));
        Assert.Equal("identity x@example.org is denied access to this endpoint", Policy(denied: [id.ToString()]).Evaluate(byId, Now).Refusal);
        Assert.False(Policy(denied: ["X@Example.ORG"]).Evaluate(Caller("x@example.org"), Now).Allowed);
        Assert.True(Policy(denied: ["y@example.org"]).Evaluate(Caller("x@example.org"), Now).Allowed);
    }

    [Theory]
    [InlineData("alice")]
    [InlineData("")]
    [InlineData("not-a-uuid-or-user")]
    public void A_user_list_entry_that_is_neither_an_id_nor_a_username_is_refused(string entry)
    {
        var e = Assert.Throws<FormatException>(() => new IdentityList([entry], "denied_users"));
        Assert.StartsWith("denied_users: ", e.Message);
    }

    [Fact]
    public void Allowed_users_restrict_the_endpoint_but_admins_always_pass()
    {
        var policy = Policy(allowed: ["alice@example.org"], admins: ["root-admin@example.org"]);
        Assert.True(policy.Evaluate(Caller("alice@example.org"), Now).Allowed);
        Assert.Equal("you are not on this endpoint's list of allowed users", policy.Evaluate(Caller("carol@example.org"), Now).Refusal);
        var admin = policy.Evaluate(Caller("root-admin@example.org"), Now);
        Assert.True(admin.Allowed);
        Assert.True(admin.IsAdmin);
    }

    [Fact]
    public void An_allowed_user_outside_the_allowed_domains_does_not_count()
    {
        var caller = Caller("alice@example.org", null, Id("alice@example.org"), Id("alice@other.edu"));
        var decision = Policy(domains: ["example.org"], allowed: ["alice@other.edu"]).Evaluate(caller, Now);
        Assert.Equal("you are not on this endpoint's list of allowed users", decision.Refusal);
    }

    [Fact]
    public void A_session_policy_needs_a_recent_enough_auth_time()
    {
        var policy = Policy(session: TimeSpan.FromHours(12));
        Assert.True(policy.Evaluate(Caller("a@example.org", Now.AddHours(-11)), Now).Allowed);
        Assert.True(policy.Evaluate(Caller("a@example.org", Now.AddHours(-12)), Now).Allowed);
        Assert.Equal(
            "your last authentication (2026-11-22 23:59:59Z) is older than this endpoint's session limit of 12h: sign in again",
            policy.Evaluate(Caller("a@example.org", Now.AddHours(-12).AddSeconds(-1)), Now).Refusal);
        Assert.Equal(
            "this endpoint requires an authentication within the last 12h and your token does not say when you authenticated (no auth_time): sign in again",
            policy.Evaluate(Caller("a@example.org"), Now).Refusal);
    }

    [Fact]
    public void Without_a_session_policy_auth_time_is_not_needed()
    {
        Assert.True(Policy().Evaluate(Caller("a@example.org"), Now).Allowed);
        Assert.True(Policy().Evaluate(Caller("a@example.org", Now.AddDays(-400)), Now).Allowed);
    }
}
