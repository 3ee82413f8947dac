using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Protocol;
using Mep.Protocol.Api;

namespace Mep.Silo.Api;

/// <summary>
/// <c>/v1/admin/…</c>: what an endpoint's admins (config.yaml <c>admins</c>) may ask about everyone's user endpoints.
/// The grain decides who is an admin; everyone else gets 403.
/// </summary>
public static class AdminRoutes
{
    private static readonly string[] Phases = Enum.GetNames<UserEndpointPhase>().Select(n => n.ToLowerInvariant()).ToArray();

    public static void MapMepAdminApi(this WebApplication app)
    {
        var admin = app.MapGroup("/v1/admin").RequireAuthorization();
        admin.MapGet("/endpoints/{endpointId}/user_endpoints", ListUserEndpoints);
        admin.MapGet("/endpoints/{endpointId}/users/{identityUsername}", ExplainUser);
        admin.MapGet("/endpoints/{endpointId}/audit", AdminAuditRoute.Query);
        admin.MapGet("/nodes", ListNodes);
        admin.MapPost("/nodes/{node}/drain", (HttpContext http, string node, IGrainFactory grains) => SetDrained(http, node, grains, drained: true));
        admin.MapPost("/nodes/{node}/undrain", (HttpContext http, string node, IGrainFactory grains) => SetDrained(http, node, grains, drained: false));
    }

    private static async Task<IResult> ListNodes(HttpContext http, IGrainFactory grains)
    {
        var nodes = await grains.GetGrain<ISiteGrain>(ISiteGrain.Key).ListNodes(ApiRoutes.Caller(http));
        return Results.Json(new AdminNodeList(nodes.Select(n => new AdminNodeView(n.Node, n.Live, n.Drained)).ToList()), ProtocolJson.Options);
    }

    private static async Task<IResult> SetDrained(HttpContext http, string node, IGrainFactory grains, bool drained)
    {
        var caller = ApiRoutes.Caller(http);
        if (node.Length is 0 or > 253 || !node.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_'))
        {
            throw ProblemException.BadRequest($"node: '{node}' is not a node name (letters, digits, '.', '-', '_')");
        }

        var n = await grains.GetGrain<ISiteGrain>(ISiteGrain.Key).SetDrained(caller, node, drained);
        return Results.Json(new AdminNodeView(n.Node, n.Live, n.Drained), ProtocolJson.Options);
    }

    private static async Task<IResult> ExplainUser(HttpContext http, string endpointId, string identityUsername, IGrainFactory grains)
    {
        var caller = ApiRoutes.Caller(http);
        var id = ApiRoutes.ParseId(endpointId, "endpoint");
        if (string.IsNullOrWhiteSpace(identityUsername) || identityUsername.Length > 256)
        {
            throw ProblemException.BadRequest("identity_username: must be a federated username of at most 256 characters");
        }

        var u = await grains.GetGrain<IEndpointGrain>(id.ToString()).ExplainUser(caller, identityUsername.Trim());
        var view = new AdminUserView(
            u.IdentityUsername,
            u.IdentityId,
            u.LocalUsername,
            u.Refusal,
            u.Candidates.Select(c => new AdminMappingCandidate(c.IdentityId, c.Username,
                c.Rule is { } rule ? $"document[{c.Document}].rule[{rule}]" : $"document[{c.Document}]")).ToList(),
            u.DocumentFailures,
            u.UserEndpoints.Select(s => ToView(new AdministeredUserEndpoint(u.IdentityId, s))).ToList());
        return Results.Json(view, ProtocolJson.Options);
    }

    private static async Task<IResult> ListUserEndpoints(HttpContext http, string endpointId, IGrainFactory grains,
        string? user = null, string? state = null, string? node = null)
    {
        var caller = ApiRoutes.Caller(http);
        var id = ApiRoutes.ParseId(endpointId, "endpoint");
        UserEndpointPhase? phase = state is null ? null
            : Enum.TryParse<UserEndpointPhase>(state, ignoreCase: true, out var p) && Phases.Contains(state.ToLowerInvariant())
                ? p
                : throw ProblemException.BadRequest($"state: must be one of {string.Join(", ", Phases)}, got '{state}'");
        var found = await grains.GetGrain<IEndpointGrain>(id.ToString())
            .ListUserEndpoints(caller, new UserEndpointQuery(Blank(user), phase, Blank(node)));
        var view = new AdminUserEndpointList(id.ToString(), found.Select(ToView).ToList());
        return Results.Json(view, ProtocolJson.Options);
    }

    private static string? Blank(string? s) => string.IsNullOrWhiteSpace(s) ? null : s.Trim();

    private static AdminUserEndpointView ToView(AdministeredUserEndpoint u) => new(
        u.Snapshot.UserEndpointId,
        u.IdentityId,
        u.Snapshot.Spec?.LocalUsername,
        u.Snapshot.Phase.ToString().ToLowerInvariant(),
        u.Snapshot.Reason,
        u.Snapshot.Node,
        u.Snapshot.Pid,
        u.Snapshot.PendingTasks,
        u.Snapshot.ProcessStartedAt,
        u.Snapshot.LastHeartbeat,
        u.Snapshot.LastTaskAt,
        System.Text.Json.Nodes.JsonNode.Parse(u.Snapshot.Spec?.UserConfigJson ?? "{}")!.AsObject());
}
