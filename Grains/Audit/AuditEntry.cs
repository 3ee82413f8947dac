namespace Mep.Grains.Audit;

/// <summary>
/// One audited fact, as the audit log keeps it (one JSON object per line, snake_case keys, nulls left out). Access
/// decisions carry a decision and an HTTP status; lifecycle and task records carry <see cref="Recorded"/> and no status.
/// Fields are only ever added (optional, at the end): older lines stay readable, and readers ignore what they do not know.
/// </summary>
/// <param name="Action">What happened: see <see cref="AuditActions"/>.</param>
/// <param name="Decision"><c>allowed</c> or <c>refused</c> for decisions (a UEP start is the launcher's); <c>recorded</c> for facts.</param>
/// <param name="Status">The HTTP status the caller got; null for what no caller waited on.</param>
/// <param name="Username">The caller's identity username (for a refused event, the broker user that sent it); null on
/// lifecycle and task records, which name the local account in <paramref name="LocalUser"/>.</param>
/// <param name="MatchedIdentity">The identity of the set the mapping chose.</param>
/// <param name="MappingRule">Which mapping document and rule chose the account, as <c>document[d].rule[r]</c>.</param>
/// <param name="Node">The machine the UEP process runs on (the silo's, whose launcher started it).</param>
/// <param name="Uid">The Unix uid the UEP or task runs as (for an ended task, the one its worker reported).</param>
/// <param name="Pid">The UEP process (its manager; workers report no pid of their own).</param>
/// <param name="ConfigHash">SHA-256 of the rendered user endpoint config the process was started with (<c>sha256:hex</c>).</param>
/// <param name="ExitCode">The UEP's exit status (128 + n when killed by signal n); for a task, its return code.</param>
/// <param name="Signal">The signal that killed the UEP, when its exit status says one did.</param>
/// <param name="JobId">The batch (Slurm) job the task's worker runs in; null for local workers.</param>
/// <param name="Host">Where the task ran (its worker's host).</param>
/// <param name="State">For an ended task: <c>success</c> or <c>failed</c>.</param>
/// <param name="Attempt">For a task, its worker's attempt; for a UEP start, which start attempt in a row it is; for a
/// UEP exit that was a failed start, which attempt failed.</param>
/// <param name="NextAttemptAt">For a UEP exit that was a failed start to be retried: when the next attempt comes.</param>
/// <param name="ResourceControl">For a UEP start: the launcher's account of the cgroup(s) containing the UEP and their
/// limits, or why it has none (<c>no cgroup: ...</c>).</param>
public sealed record AuditEntry(
    DateTimeOffset Time,
    string EndpointId,
    string Action,
    string Decision,
    int? Status,
    string? Reason,
    string IdentityId,
    string? Username,
    IReadOnlyList<string>? Identities,
    string? MatchedIdentity = null,
    string? LocalUser = null,
    string? MappingRule = null,
    string? UserEndpointId = null,
    IReadOnlyList<Guid>? Functions = null,
    int? Tasks = null,
    string? Node = null,
    long? Uid = null,
    int? Pid = null,
    string? ConfigHash = null,
    int? ExitCode = null,
    int? Signal = null,
    Guid? TaskId = null,
    Guid? FunctionId = null,
    string? JobId = null,
    string? Host = null,
    string? WorkerId = null,
    int? Attempt = null,
    string? State = null,
    DateTimeOffset? NextAttemptAt = null,
    string? ResourceControl = null)
{
    public const string Allowed = "allowed";
    public const string Refused = "refused";
    public const string Recorded = "recorded";
}

/// <summary>The actions an audit entry names.</summary>
public static class AuditActions
{
    public const string Submit = "submit";
    public const string Describe = "describe";

    /// <summary>A UEP event refused on the stream (sent by a broker user that does not own the UEP).</summary>
    public const string Event = "event";

    /// <summary>The launcher started the UEP process (allowed, with its pid) or refused to (refused, with its reason).</summary>
    public const string UepStart = "uep-start";

    public const string UepExit = "uep-exit";
    public const string TaskReceived = "task-received";
    public const string TaskStarted = "task-started";
    public const string TaskEnded = "task-ended";

    /// <summary>A user endpoint stopped through the API (by its owner or an admin).</summary>
    public const string Stop = "stop";

    /// <summary>Admin API requests (endpoint admins): listing user endpoints, explaining a user, querying the audit log.</summary>
    public const string AdminList = "admin-list";
    public const string AdminUser = "admin-user";
    public const string AdminAudit = "admin-audit";

    /// <summary>Admin API requests of the site's admins (Mep:SiteAdmins) about login nodes.</summary>
    public const string NodeList = "node-list";
    public const string NodeDrain = "node-drain";
    public const string NodeUndrain = "node-undrain";

    /// <summary>A status page sign-in: a token exchanged for a session cookie (allowed), or refused to a non-admin.</summary>
    public const string StatusSession = "status-session";

    public static readonly IReadOnlyList<string> All =
    [
        Submit, Describe, Event, UepStart, UepExit, TaskReceived, TaskStarted, TaskEnded, Stop,
        AdminList, AdminUser, AdminAudit, NodeList, NodeDrain, NodeUndrain, StatusSession,
    ];
}
