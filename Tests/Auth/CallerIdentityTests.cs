using System.Net;
using Mep.Contracts.Model;
using Mep.Protocol.Auth;
using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.Auth;

/// <summary>The caller the API builds from a validated token: identity set, standard-claims fallback, auth_time, id rule.</summary>
[Collection(AuthCollection.Name)]
public sealed class CallerIdentityTests(AuthFixture site)
{
    private const string Own = "B7E1C4A2-95D3-4C1E-8F1A-2D3C4B5A6978"; // upper case on purpose: ids are compared and kept lower
    private const string Linked = "0f0e0d0c-0b0a-4908-8706-050403020100";

    [Fact]
    public async Task The_identity_set_claim_becomes_the_linked_identities_in_token_order()
    {
        var authTime = DateTimeOffset.Parse("2025-03-04T05:06:07Z", System.Globalization.CultureInfo.InvariantCulture);
        var token = site.Dev.Issue("alice@uchicago.edu", new TestToken
        {
            Subject = Own,
            AuthTime = authTime,
            IdentitySet =
            [
                new Dictionary<string, object?> { ["username"] = "no-id@example.org" }, // no id: skipped
                new Dictionary<string, object?>
                {
                    ["sub"] = Own.ToLowerInvariant(), // Globus Auth spells the id "sub"
                    ["username"] = "alice@uchicago.edu",
                    ["identity_provider"] = "ce2a0f3b-0000-4000-8000-000000000001",
                    ["email"] = "alice@uchicago.edu",
                    ["name"] = "Alice Liddell",
                    ["organization"] = "University of Chicago",
                    ["last_authentication"] = 1741064767,
                    ["verified"] = true,
                    ["nested"] = new Dictionary<string, object?> { ["dropped"] = 1 },
                },
                new Dictionary<string, object?> { ["id"] = Linked, ["username"] = "alice@anl.gov", ["status"] = "private", ["email"] = null },
                new Dictionary<string, object?> { ["id"] = "c0000000-0000-4000-8000-000000000000" }, // no username: skipped
            ],
        });

        var caller = await CallerFor(token);

        Assert.Equal(Own.ToLowerInvariant(), caller.IdentityId);
        Assert.Equal("alice@uchicago.edu", caller.Username);
        Assert.Equal(authTime, caller.AuthTime);
        Assert.Equal(2, caller.LinkedIdentities.Count);
        Assert.Equal(
            new Dictionary<string, string?>
            {
                ["id"] = Own.ToLowerInvariant(),
                ["username"] = "alice@uchicago.edu",
                ["identity_provider"] = "ce2a0f3b-0000-4000-8000-000000000001",
                ["email"] = "alice@uchicago.edu",
                ["name"] = "Alice Liddell",
                ["organization"] = "University of Chicago",
                ["last_authentication"] = "1741064767",
                ["verified"] = "true",
                ["status"] = LinkedIdentity.Used, // the identity the token is for, which said no status
            },
            caller.LinkedIdentities[0].Fields);
        Assert.Equal(
            new Dictionary<string, string?> { ["id"] = Linked, ["username"] = "alice@anl.gov", ["status"] = "private", ["email"] = null },
            caller.LinkedIdentities[1].Fields);
        Assert.Equal(caller.LinkedIdentities, caller.IdentitySet());
    }

    [Fact]
    public async Task The_test_issuer_takes_the_subject_from_the_identity_set_entry_of_the_identity()
    {
        var token = site.Dev.Issue("alice@uchicago.edu", new TestToken
        {
            IdentitySet =
            [
                new Dictionary<string, object?> { ["id"] = Linked, ["username"] = "alice@anl.gov" },
                new Dictionary<string, object?> { ["sub"] = Own, ["username"] = "Alice@UChicago.edu" },
            ],
        });

        var caller = await CallerFor(token);

        Assert.Equal(Own.ToLowerInvariant(), caller.IdentityId);
        Assert.Equal([null, "used"], caller.LinkedIdentities.Select(i => i.Status));
    }

    [Fact]
    public async Task Entries_that_are_not_objects_are_skipped()
    {
        var set = System.Text.Json.JsonDocument.Parse($$"""["just a name", 42, null, [], {"id": "{{Own}}", "username": "alice@uchicago.edu"}]""").RootElement;
        var token = site.Dev.Issue("alice@uchicago.edu", new TestToken { Subject = Own, Claims = new Dictionary<string, object?> { [MepClaims.IdentitySet] = set } });

        var caller = await CallerFor(token);

        var only = Assert.Single(caller.LinkedIdentities);
        Assert.Equal((Own, "alice@uchicago.edu", "used"), (only.Id, only.Username, only.Status));
    }

    [Fact]
    public async Task An_identity_set_without_the_tokens_own_identity_is_refused()
    {
        var token = site.Dev.Issue("alice@uchicago.edu", new TestToken
        {
            Subject = Own,
            IdentitySet = [new Dictionary<string, object?> { ["id"] = Linked, ["username"] = "alice@anl.gov" }],
        });

        var answer = await site.Host.WhoAmIAsync(token);

        Assert.Equal(HttpStatusCode.Unauthorized, answer.Status);
        Assert.Equal("bearer token rejected: the identity_set claim lacks the token's own identity (sub)", answer.Detail);
    }

    [Fact]
    public async Task An_identity_set_claim_that_is_not_a_list_is_refused()
    {
        var token = site.Dev.Issue("alice@uchicago.edu", new TestToken { Claims = new Dictionary<string, object?> { [MepClaims.IdentitySet] = "alice" } });

        var answer = await site.Host.WhoAmIAsync(token);

        Assert.Equal("bearer token rejected: the identity_set claim is not a list", answer.Detail);
    }

    [Fact]
    public async Task Without_an_identity_set_one_identity_comes_from_the_standard_claims()
    {
        var token = site.Campus.Issue("bob@campus.example", new TestToken
        {
            Subject = "f:7c1a:bob", // not a UUID, as many IdPs write it
            IdentityProvider = "", // no idp claim: the issuer stands in
            Name = "Bob Builder",
            Email = "bob@campus.example",
            IncludeAuthTime = false,
        });

        var caller = await CallerFor(token);

        Assert.Equal(MepClaims.IdentityIdFor(AuthFixture.CampusIssuer, "f:7c1a:bob").ToString(), caller.IdentityId);
        Assert.Equal(("bob@campus.example", AuthFixture.CampusIssuer, "Bob Builder", "bob@campus.example"), (caller.Username, caller.IdentityProvider, caller.Name, caller.Email));
        Assert.Null(caller.AuthTime);
        var only = Assert.Single(caller.LinkedIdentities);
        Assert.Equal(
            new Dictionary<string, string?>
            {
                ["id"] = "f:7c1a:bob",
                ["username"] = "bob@campus.example",
                ["identity_provider"] = AuthFixture.CampusIssuer,
                ["name"] = "Bob Builder",
                ["email"] = "bob@campus.example",
                ["status"] = LinkedIdentity.Used,
            },
            only.Fields);
    }

    [Fact]
    public async Task An_issuer_with_an_identity_set_claim_falls_back_to_the_standard_claims_when_the_token_has_none()
    {
        var caller = await CallerFor(site.Dev.Issue("erin@example.org"));

        Assert.Equal(MepClaims.IdentityIdFor("erin@example.org").ToString(), caller.IdentityId); // a UUID sub is the id
        Assert.Equal("example.org", caller.IdentityProvider); // from idp
        var only = Assert.Single(caller.LinkedIdentities);
        Assert.Equal((caller.IdentityId, "erin@example.org", "example.org", "used"), (only.Id, only.Username, only.Fields["identity_provider"], only.Status));
        Assert.NotNull(caller.AuthTime);
        Assert.InRange(caller.AuthTime!.Value, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddSeconds(1));
    }

    [Fact]
    public async Task Equal_non_uuid_subjects_of_two_issuers_get_different_ids()
    {
        var fromCampus = await CallerFor(site.Campus.Issue("frank@example.org", new TestToken { Subject = "frank" }));
        var fromDev = await CallerFor(site.Dev.Issue("frank@example.org", new TestToken { Subject = "frank" }));

        Assert.Equal(MepClaims.IdentityIdFor(AuthFixture.CampusIssuer, "frank").ToString(), fromCampus.IdentityId);
        Assert.Equal(MepClaims.IdentityIdFor(MepClaims.Issuer, "frank").ToString(), fromDev.IdentityId);
        Assert.NotEqual(fromCampus.IdentityId, fromDev.IdentityId);
        Assert.True(Guid.TryParseExact(fromDev.IdentityId, "D", out _));
    }

    [Fact]
    public async Task Auth_time_keeps_fractions_and_must_be_a_number()
    {
        var fraction = await CallerFor(site.Dev.Issue("gina@example.org", new TestToken { Claims = new Dictionary<string, object?> { [MepClaims.AuthTime] = 1700000000.5 } }));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1700000000500), fraction.AuthTime);

        var text = await site.Host.WhoAmIAsync(site.Dev.Issue("gina@example.org", new TestToken { Claims = new Dictionary<string, object?> { [MepClaims.AuthTime] = "yesterday" } }));
        Assert.Equal(HttpStatusCode.Unauthorized, text.Status);
        Assert.Equal("bearer token rejected: auth_time is not a NumericDate", text.Detail);
    }

    private async Task<CallerIdentity> CallerFor(string token)
    {
        var answer = await site.Host.WhoAmIAsync(token);
        Assert.True(answer.Status == HttpStatusCode.OK, answer.ToString());
        return answer.Caller ?? throw new Xunit.Sdk.XunitException("the endpoint saw no caller");
    }
}
