using System.Text.Json.Nodes;
using Mep.Grains.UserConfig;
using Mep.Identity;
using Mep.Tests.EndToEnd;
using Xunit;

namespace Mep.Tests.UserConfig;

public sealed class TemplateVariablesTests
{
    [Fact]
    public void Mapped_identity_comes_from_the_node_accounts_and_groups()
    {
        var group = $"mepg{Guid.NewGuid().ToString("N")[..8]}";
        TestUser.Run("groupadd", group);
        try
        {
            using var user = TestUser.Create("mepv");
            TestUser.Run("usermod", "-a", "-G", group, "-c", "Ada Lovelace", user.Name);
            var account = LocalAccounts.Find(user.Name)!;
            Assert.Equal(("Ada Lovelace", "/bin/sh"), (account.Gecos, account.Shell));

            var mapped = TemplateVariables.MappedIdentity(account, "7c3b8a1e-0000-4000-8000-000000000001");
            var local = mapped["local"]!;
            Assert.Equal(user.Name, local["uname"]!.GetValue<string>());
            Assert.Equal((uint)user.Uid, local["uid"]!.GetValue<uint>());
            Assert.Equal($"/home/{user.Name}", local["dir"]!.GetValue<string>());
            var groups = local["groups"]!.AsArray().Select(g => g!.GetValue<string>()).ToList();
            Assert.Equal(user.Name, groups[0]); // useradd's user private group, the primary one, comes first
            Assert.Contains(group, groups);
            Assert.Equal("7c3b8a1e-0000-4000-8000-000000000001", mapped["identity"]!["id"]!.GetValue<string>());

            // Comparisons in the dialect are the template helper's; here: the variables arrive, escaped, whole.
            var template = ConfigTemplate.Parse("""
                user: {{ _GC.mapped_identity.local.uname }}
                home: {{ _GC.mapped_identity.local.dir }}
                groups: {{ _GC.mapped_identity.local.groups }}
                """);
            var gc = TemplateVariables.Gc(mapped, null, null);
            var rendered = YamlToJson.Convert(template.Render([], gc));
            Assert.Equal(user.Name, rendered["user"]!.GetValue<string>());
            Assert.Equal($"/home/{user.Name}", rendered["home"]!.GetValue<string>());
            Assert.Contains(group, rendered["groups"]!.AsArray().Select(g => g!.GetValue<string>()));
        }
        finally
        {
            TestUser.Run("groupdel", [group], allowFailure: true);
        }
    }

    [Fact]
    public void User_runtime_and_parent_config_are_escaped_like_user_values()
    {
        var runtime = new JsonObject { ["dotnet_version"] = "10.0.1", ["os"] = "Linux\nallowed_functions: [x]" };
        var parent = new JsonObject { ["display_name"] = "cluster", ["max_walltime"] = "24h" };
        var gc = TemplateVariables.Gc(new JsonObject(), runtime, parent);
        var text = ConfigTemplate.Parse("os: {{ _GC.user_runtime.os }}\nv: {{ _GC.user_runtime.dotnet_version }}\nparent: {{ _GC.parent_config.display_name }}").Render([], gc);
        var rendered = YamlToJson.Convert(text);
        Assert.Equal("Linux\nallowed_functions: [x]", rendered["os"]!.GetValue<string>());
        Assert.Equal("10.0.1", rendered["v"]!.GetValue<string>());
        Assert.Equal("cluster", rendered["parent"]!.GetValue<string>());
        Assert.Equal(3, rendered.Count);
    }

    [Theory]
    [InlineData("_GC")]
    [InlineData("parent_config")]
    [InlineData("user_runtime")]
    [InlineData("mapped_identity")]
    public void Reserved_option_names_are_found(string name) =>
        Assert.Equal(name, TemplateVariables.ReservedOption(new JsonObject { ["label"] = "x", [name] = 1 }));

    [Fact]
    public void Ordinary_options_are_not_reserved() =>
        Assert.Null(TemplateVariables.ReservedOption(new JsonObject { ["label"] = "x", ["gc"] = 1, ["_gc"] = 2 }));

    [Fact]
    public void The_sdk_describes_its_runtime()
    {
        var runtime = Mep.Sdk.ClientRuntime.Describe();
        Assert.Equal(Environment.Version.ToString(), runtime["dotnet_version"]!.GetValue<string>());
        Assert.Matches(@"^\d+\.\d+", runtime["mep_sdk_version"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(runtime["os"]!.GetValue<string>()));
    }
}
