using System.Globalization;
using Mep.Contracts.Model;

namespace Mep.Grains.Policies;

/// <summary>
/// Who may use an endpoint, from its config.yaml: <c>allowed_domains</c>, <c>session_max_age</c>, <c>admins</c>,
/// <c>allowed_users</c> and <c>denied_users</c>. Pure: the caller's identity set and the time in, a decision out.
/// </summary>
public sealed record EndpointPolicy(
    IReadOnlyList<DomainPattern> AllowedDomains,
    TimeSpan? SessionMaxAge,
    IdentityList Admins,
    IdentityList AllowedUsers,
    IdentityList DeniedUsers)
{
    /// <summary>No restriction beyond a valid token and a mapping.</summary>
    public static EndpointPolicy Open { get; } = new([], null, IdentityList.Empty, IdentityList.Empty, IdentityList.Empty);

    /// <remarks>
    /// Denial looks at the whole identity set (an admin who denies a person means every identity they link); the
    /// other rules look only at the identities in the allowed domains, which are also the only ones offered to mapping.
    /// </remarks>
    /// <summary>An admin of the endpoint, whom its policies also let in (an admin the policies refuse is none).</summary>
    public bool IsAdmin(CallerIdentity caller, DateTimeOffset now) => Evaluate(caller, now) is { Allowed: true, IsAdmin: true };

    public PolicyDecision Evaluate(CallerIdentity caller, DateTimeOffset now)
    {
        var identities = caller.IdentitySet();
        if (DeniedUsers.FirstIn(identities) is { } denied)
        {
            return PolicyDecision.Refuse($"identity {denied.Username} is denied access to this endpoint");
        }

        var considered = AllowedDomains.Count == 0
            ? identities
            : identities.Where(i => AllowedDomains.Any(d => d.Matches(i.Username))).ToList();
        if (considered.Count == 0)
        {
            return PolicyDecision.Refuse(
                $"none of your identities ({string.Join(", ", identities.Select(i => i.Username))}) is in a domain this endpoint allows ({string.Join(", ", AllowedDomains)})");
        }

        if (SessionMaxAge is { } maxAge)
        {
            if (caller.AuthTime is not { } authTime)
            {
                return PolicyDecision.Refuse(
                    $"this endpoint requires an authentication within the last {Show(maxAge)} and your token does not say when you authenticated (no auth_time): sign in again");
            }

            if (now - authTime > maxAge)
            {
                return PolicyDecision.Refuse(
                    $"your last authentication ({authTime.UtcDateTime.ToString("u", CultureInfo.InvariantCulture)}) is older than this endpoint's session limit of {Show(maxAge)}: sign in again");
            }
        }

        var admin = Admins.FirstIn(considered);
        // Admins administer the endpoint, so they may always use it (denials, domains and sessions still apply).
        if (AllowedUsers.Count > 0 && admin is null && AllowedUsers.FirstIn(considered) is null)
        {
            return PolicyDecision.Refuse("you are not on this endpoint's list of allowed users");
        }

        return new PolicyDecision(null, considered, admin is not null);
    }

    private static string Show(TimeSpan t) =>
        t.TotalHours >= 1 && t.TotalHours == Math.Floor(t.TotalHours) ? $"{t.TotalHours:0}h"
        : t.TotalMinutes >= 1 && t.TotalMinutes == Math.Floor(t.TotalMinutes) ? $"{t.TotalMinutes:0}m"
        : $"{t.TotalSeconds:0.###}s";
}

/// <param name="Refusal">Why the caller is refused (for a 403 and the audit log); null when allowed.</param>
/// <param name="Considered">The caller's identities this endpoint accepts: the ones mapping rules see.</param>
public sealed record PolicyDecision(string? Refusal, IReadOnlyList<LinkedIdentity> Considered, bool IsAdmin)
{
    public bool Allowed => Refusal is null;

    public static PolicyDecision Refuse(string reason) => new(reason, [], false);
}
