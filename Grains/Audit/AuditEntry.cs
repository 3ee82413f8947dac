namespace Mep.Grains.Audit;

/// <summary>
/// One access decision, as the audit log keeps it (one JSON object per line, snake_case keys, nulls left out).
/// </summary>
/// <param name="Action">What the caller asked for: <c>submit</c>, <c>describe</c>; or <c>event</c>, a UEP event refused on the stream.</param>
/// <param name="Decision"><c>allowed</c> or <c>refused</c>.</param>
/// <param name="Status">The HTTP status the caller got.</param>
/// <param name="MatchedIdentity">The identity of the set the mapping chose.</param>
/// <param name="MappingRule">Which mapping document and rule chose the account, as <c>document[d].rule[r]</c>.</param>
public sealed record AuditEntry(
    DateTimeOffset Time,
    string EndpointId,
    string Action,
    string Decision,
    int Status,
    string? Reason,
    string IdentityId,
    string Username,
    IReadOnlyList<string> Identities,
    string? MatchedIdentity = null,
    string? LocalUser = null,
    string? MappingRule = null,
    string? UserEndpointId = null,
    IReadOnlyList<Guid>? Functions = null,
    int? Tasks = null)
{
    public const string Allowed = "allowed";
    public const string Refused = "refused";
}
