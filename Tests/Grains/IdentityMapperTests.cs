using Mep.Contracts.Model;
using Mep.Grains.Identity;
using Xunit;

namespace Mep.Tests.Grains;

public sealed class IdentityMapperTests
{
    private static CallerIdentity Who(string username) => new("id-" + username, username, username.Split('@')[^1], null, null);

    [Fact]
    public void The_example_mapping_maps_two_identities_and_no_others()
    {
        var mapper = IdentityMapper.Load(Path.Combine(ConfigTemplateTests.RepoRoot(), "examples/endpoint/identity_mapping.json"));
        Assert.Equal("mep-alice", mapper.Map(Who("alice@example.org")));
        Assert.Equal("mep-bob", mapper.Map(Who("bob@example.org")));
        Assert.Null(mapper.Map(Who("eve@example.org")));
        Assert.Null(mapper.Map(Who("alice@example.org.evil.com")));
        Assert.Null(mapper.Map(Who("xalice@example.org")));
    }

    [Fact]
    public void A_missing_field_means_no_mapping_from_that_rule()
    {
        var mapper = IdentityMapper.Parse("""
            [{"DATA_TYPE":"expression_identity_mapping#1.0.0","mappings":[
              {"source":"{email}","match":"(.*)@site\\.edu","output":"{0}"},
              {"source":"{username}","match":"(.*)@site\\.edu","output":"u-{0}"}]}]
            """);
        Assert.Equal("u-carol", mapper.Map(Who("carol@site.edu")));
        Assert.Equal("carl", mapper.Map(new CallerIdentity("i", "carol@site.edu", "site.edu", null, "carl@site.edu")));
    }

    [Fact]
    public void A_document_without_data_type_is_rejected() =>
        Assert.Throws<FormatException>(() => IdentityMapper.Parse("""[{"mappings":[]}]"""));
}
