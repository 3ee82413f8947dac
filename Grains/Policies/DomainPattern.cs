namespace Mep.Grains.Policies;

/// <summary>
/// One entry of <c>allowed_domains</c>: a domain (<c>example.org</c>) or a wildcard over its subdomains
/// (<c>*.anl.gov</c> matches <c>cels.anl.gov</c> and <c>a.b.anl.gov</c>, not <c>anl.gov</c> itself: list both to allow
/// both). Compared without case, as DNS names are.
/// </summary>
public sealed class DomainPattern
{
    private readonly string _domain;
    private readonly bool _subdomains;

    private DomainPattern(string text, string domain, bool subdomains) => (Text, _domain, _subdomains) = (text, domain, subdomains);

    public string Text { get; }

    public static DomainPattern Parse(string text, string field)
    {
        var t = text.Trim().ToLowerInvariant();
        var subdomains = t.StartsWith("*.", StringComparison.Ordinal);
        var domain = subdomains ? t[2..] : t;
        // A '*' anywhere else, or an empty label, would silently never match: refuse it where the admin can see it.
        if (domain.Length == 0 || domain.Contains('*') || domain.Contains('@') || domain.Split('.').Any(l => l.Length == 0))
        {
            throw new FormatException($"{field}: '{text}' is not a domain (e.g. example.org or *.example.org)");
        }

        return new DomainPattern(text, domain, subdomains);
    }

    /// <summary>Whether an identity username (<c>user@domain</c>) is in this domain. A name without '@' is in none.</summary>
    public bool Matches(string username)
    {
        var at = username.LastIndexOf('@');
        if (at < 0)
        {
            return false;
        }

        var domain = username[(at + 1)..].ToLowerInvariant();
        return _subdomains
            ? domain.EndsWith("." + _domain, StringComparison.Ordinal)
            : domain == _domain;
    }

    public override string ToString() => Text;
}
