using System.Text.Json.Nodes;
using Mep.Identity;

namespace Mep.Grains.UserConfig;

/// <summary>
/// The template variable <c>_GC</c> that MEP supplies beside the user's options, with Globus Compute's layout:
/// <c>mapped_identity.local</c> (the account tasks run as), <c>mapped_identity.identity.id</c>, <c>user_runtime</c>
/// (what the client said about itself) and <c>parent_config</c> (the endpoint's own config.yaml).
/// </summary>
public static class TemplateVariables
{
    public const string GcName = "_GC";

    /// <summary>User options that would shadow or impersonate what MEP supplies.</summary>
    public static readonly IReadOnlyList<string> Reserved = [GcName, "parent_config", "user_runtime", "mapped_identity"];

    /// <summary>Largest <c>user_runtime</c> accepted, as JSON text: it describes a client, not a payload.</summary>
    public const int MaxUserRuntimeChars = 16 * 1024;

    /// <summary>The first reserved option name the user's options use, or null.</summary>
    public static string? ReservedOption(JsonObject userOptions) =>
        Reserved.FirstOrDefault(userOptions.ContainsKey);

    /// <summary>The <c>mapped_identity</c> part for a local account; its groups are read from the node's group database.</summary>
    public static JsonObject MappedIdentity(LocalAccount account, string identityId) => new()
    {
        ["local"] = new JsonObject
        {
            ["uname"] = account.Name,
            ["uid"] = account.Uid,
            ["gid"] = account.Gid,
            ["groups"] = new JsonArray(LocalAccounts.GroupNames(account).Select(g => (JsonNode?)JsonValue.Create(g)).ToArray()),
            ["gecos"] = account.Gecos,
            ["shell"] = account.Shell,
            ["dir"] = account.Home,
        },
        ["identity"] = new JsonObject { ["id"] = identityId },
    };

    /// <summary>
    /// The whole <c>_GC</c> object, as parsed JSON: built through its text so that every value is JSON-backed (a node
    /// made from a CLR uint, say, does not read back as a long) and no caller's node is re-parented.
    /// </summary>
    public static JsonObject Gc(JsonObject mappedIdentity, JsonObject? userRuntime, JsonObject? parentConfig)
    {
        var gc = new JsonObject
        {
            ["mapped_identity"] = mappedIdentity.DeepClone(),
            ["user_runtime"] = userRuntime?.DeepClone() ?? new JsonObject(),
            ["parent_config"] = parentConfig?.DeepClone() ?? new JsonObject(),
        };
        return JsonNode.Parse(gc.ToJsonString())!.AsObject();
    }
}
