using Mep.Contracts.Model;

namespace Mep.Grains.Policies;

/// <summary>
/// A list of identities in an endpoint policy (<c>admins</c>, <c>allowed_users</c>, <c>denied_users</c>): each entry is
/// an identity id (UUID) or an identity username (<c>alice@example.org</c>), compared without case.
/// </summary>
public sealed class IdentityList
{
    private readonly HashSet<string> _entries;

    public IdentityList(IEnumerable<string> entries, string field)
    {
        _entries = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in entries)
        {
            var e = entry?.Trim() ?? "";
            // Bare names would match nothing (identity usernames always carry a domain): an admin typo, so say so.
            if (!Guid.TryParse(e, out _) && !e.Contains('@'))
            {
                throw new FormatException($"{field}: '{entry}' is neither an identity id (UUID) nor an identity username (user@domain)");
            }

            _entries.Add(Guid.TryParse(e, out var g) ? g.ToString() : e);
        }
    }

    public static IdentityList Empty { get; } = new([], "");

    public int Count => _entries.Count;

    public bool Contains(LinkedIdentity identity) =>
        (identity.Id.Length > 0 && _entries.Contains(Guid.TryParse(identity.Id, out var g) ? g.ToString() : identity.Id))
        || (identity.Username.Length > 0 && _entries.Contains(identity.Username));

    /// <summary>The first identity of the set on this list, if any.</summary>
    public LinkedIdentity? FirstIn(IEnumerable<LinkedIdentity> identities) => identities.FirstOrDefault(Contains);
}
