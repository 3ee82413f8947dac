using Mep.Contracts.Model;
using Mep.Grains.Identity;
using Mep.Identity;
using Xunit;

namespace Mep.Tests.Grains;

public sealed class IdentityMapperTests
{
    private static CallerIdentity Who(string username) => new("id-" + username, username, username.Split('@')[^1], null, null);

    private static readonly MappingContext Context = MappingContext.ForEndpoint("00000000-0000-4000-8000-000000000001");

    private static async Task<string?> Map(IdentityMapper mapper, CallerIdentity caller) => (await mapper.MapAsync(caller, Context.EndpointId)).Username;

    [Fact]
    public async Task The_example_mapping_maps_two_identities_and_no_others()
    {
        var mapper = IdentityMapper.Load(Path.Combine(Mep.Tests.UserConfig.ConfigTemplateTests.RepoRoot(), "examples/endpoint/identity_mapping.json"));
        Assert.Equal("mep-alice", await Map(mapper, Who("alice@example.org")));
        Assert.Equal("mep-bob", await Map(mapper, Who("bob@example.org")));
        Assert.Null(await Map(mapper, Who("eve@example.org")));
        Assert.Null(await Map(mapper, Who("alice@example.org.evil.com")));
        Assert.Null(await Map(mapper, Who("xalice@example.org")));
    }

    [Fact]
    public async Task A_field_missing_on_the_identity_silences_its_whole_document()
    {
        // Document 0 names {email}; for an identity without one, none of its rules count, not even the one that
        // would match without it. Document 1 still maps.
        var mapper = IdentityMapper.Parse(MissingFieldMapping);
        Assert.Equal("d1-carol", await Map(mapper, Who("carol@site.edu")));
        Assert.Equal("carl", await Map(mapper, new CallerIdentity("i", "carol@site.edu", "site.edu", null, "carl@site.edu")));
    }

    private const string MissingFieldMapping = """
        [{"DATA_TYPE":"expression_identity_mapping#1.0.0","mappings":[
            {"source":"{email}","match":"(.*)@site\\.edu","output":"{0}"},
            {"source":"{username}","match":"(.*)@site\\.edu","output":"d0-{0}"}]},
         {"DATA_TYPE":"expression_identity_mapping#1.0.0","mappings":[
            {"source":"{username}","match":"(.*)@site\\.edu","output":"d1-{0}"}]}]
        """;

    [Fact]
    public void A_document_without_data_type_is_rejected() =>
        Assert.Throws<FormatException>(() => IdentityMapper.Parse("""[{"mappings":[]}]"""));

    [Fact]
    public void A_non_object_entry_is_rejected() =>
        Assert.Contains("document [0] must be an object", Assert.Throws<FormatException>(() => IdentityMapper.Parse("[42]")).Message);

    [Fact]
    public void Another_version_of_a_known_type_is_rejected()
    {
        var e = Assert.Throws<FormatException>(() => IdentityMapper.Parse("""
            [{"DATA_TYPE":"expression_identity_mapping#2.0.0","mappings":[]}]
            """));
        Assert.Contains("version 2.0.0", e.Message);
    }

    [Fact]
    public async Task An_unknown_type_is_skipped_with_a_warning_and_the_rest_still_maps()
    {
        var mapper = IdentityMapper.Parse("""
            [{"DATA_TYPE":"something_else#1.0.0"},
             {"DATA_TYPE":"expression_identity_mapping#1.0.0","mappings":[{"source":"{username}","match":"(.*)@site\\.edu","output":"{0}"}]}]
            """);
        Assert.Equal("dan", await Map(mapper, Who("dan@site.edu")));
        Assert.Contains(mapper.Warnings, w => w.Contains("document [0]") && w.Contains("something_else#1.0.0"));
        // Candidates name documents by their place in the file, skipped ones counted.
        Assert.Equal(1, Assert.Single((await mapper.MapAsync(Who("dan@site.edu"), Context.EndpointId)).Candidates).Document);
    }

    [Fact]
    public void A_bad_pattern_names_its_document_and_rule()
    {
        var e = Assert.Throws<FormatException>(() => IdentityMapper.Parse("""
            [{"DATA_TYPE":"expression_identity_mapping#1.0.0","mappings":[
              {"source":"{username}","match":"(.*)","output":"{0}"},
              {"source":"{username}","match":"*bad","output":"{0}"}]}]
            """));
        Assert.Contains("document [0].mappings[1]", e.Message);
        Assert.Contains("*bad", e.Message);
    }

    [Theory]
    [InlineData("{1}")]   // a group past the last one
    [InlineData("{0}")]   // a group that did not take part
    [InlineData("")]      // an empty output
    public async Task Outputs_that_cannot_be_filled_mean_no_mapping_from_that_rule(string output)
    {
        var mapper = IdentityMapper.Parse($$"""
            [{"DATA_TYPE":"expression_identity_mapping#1.0.0","mappings":[
              {"source":"{username}","match":"(x)?.*@site\\.edu","output":"{{output}}"},
              {"source":"{username}","match":".*@site\\.edu","output":"fallback"}]}]
            """);
        Assert.Equal("fallback", await Map(mapper, Who("erin@site.edu")));
    }

    [Fact]
    public async Task Ignore_case_matches_but_the_output_keeps_the_source_case()
    {
        var mapper = IdentityMapper.Parse("""
            [{"DATA_TYPE":"expression_identity_mapping#1.0.0","mappings":[
              {"source":"{username}","match":"(.*)@SITE\\.EDU","output":"{0}","ignore_case":true}]}]
            """);
        Assert.Equal("Frank", await Map(mapper, Who("Frank@site.edu")));
    }

    private const string DomainMapping = """
        [{"DATA_TYPE":"expression_identity_mapping#1.0.0","mappings":[
            {"source":"{username}","match":"(.*)@uni\\.edu","output":"uni-{0}"}]},
         {"DATA_TYPE":"expression_identity_mapping#1.0.0","mappings":[
            {"source":"{username}","match":"(.*)@lab\\.gov","output":"lab-{0}"},
            {"source":"{email}","match":"(.*)@lab\\.gov","output":"mail-{0}"}]}]
        """;

    private static MappingIdentity Identity(string id, string username, string? status = null, string? email = null) => new(
        new Dictionary<string, string?> { ["id"] = id, ["username"] = username, ["status"] = status, ["email"] = email });

    [Fact]
    public async Task In_an_identity_set_documents_come_first_then_rules_then_identities_and_every_candidate_is_reported()
    {
        var mapper = IdentityMapper.Parse(DomainMapping);
        var result = await mapper.MapAsync([
            Identity("1", "ann@lab.gov", email: "annie@lab.gov"),
            Identity("2", "ann@uni.edu"),
            Identity("3", "ann2@lab.gov", email: "x@lab.gov")], Context);
        // Document 0 (uni.edu) wins although its identity comes second in the set.
        Assert.Equal("uni-ann", result.Username);
        Assert.Equal("2", result.IdentityId);
        Assert.Equal(
            [("2", "uni-ann"), ("1", "lab-ann"), ("3", "lab-ann2"), ("1", "mail-annie"), ("3", "mail-x")],
            result.Candidates.Select(c => (c.IdentityId, c.Username)));
    }

    [Theory]
    [InlineData("unused", false)]
    [InlineData("private", true)]
    [InlineData("used", true)]
    [InlineData(null, true)]
    public async Task Identities_whose_status_is_neither_used_nor_private_take_no_part(string? status, bool counts)
    {
        var result = await IdentityMapper.Parse(DomainMapping).MapAsync([Identity("1", "bo@uni.edu", status)], Context);
        Assert.Equal(counts ? "uni-bo" : null, result.Username);
    }

    [Fact]
    public async Task A_missing_field_silences_a_document_for_that_identity_only()
    {
        // Document 1 names {email}: identity 1 has none, identity 2 has one.
        var result = await IdentityMapper.Parse(DomainMapping).MapAsync([Identity("1", "cy@lab.gov"), Identity("2", "cy2@lab.gov", email: "c@lab.gov")], Context);
        Assert.Equal("lab-cy2", result.Username);
        Assert.DoesNotContain(result.Candidates, c => c.IdentityId == "1");
    }
}
