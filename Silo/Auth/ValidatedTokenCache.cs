using System.Collections.Concurrent;
using System.Security.Claims;

namespace Mep.Silo.Auth;

/// <summary>
/// Bearer tokens one issuer's scheme has validated, remembered so that the next request with the same token skips
/// the signature check: an ES256 verify and the claims' parsing took ~0.3 ms of every request, and an SDK sends the
/// same token with every submit and status poll for the token's lifetime.
/// </summary>
/// <remarks>
/// A JWT's validity depends only on its signature, the issuer's keys and the clock, so a remembered answer is right
/// as long as (1) the keys are the ones it was checked against: an entry is tied to the key set's object, and any
/// reload of the keys (a rotated JWKS file, a discovery refresh) makes a new one, so the next request is checked
/// again; and (2) the token has not expired: an entry lasts until the token's expiry plus the clock skew the handler
/// allows, never longer than <see cref="TokenAuthOptions.TokenCacheLifetime"/>. Only tokens that passed every check
/// (the caller's claims included) are remembered; refusals are not.
/// </remarks>
internal sealed class ValidatedTokenCache(TimeSpan lifetime, int capacity, TimeProvider clock)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    private sealed record Entry(CallerClaimsIdentity Identity, object Keys, DateTimeOffset Until);

    public bool Enabled => lifetime > TimeSpan.Zero && capacity > 0;

    /// <summary>A fresh principal for a token validated against <paramref name="keys"/> and still within its lifetime.</summary>
    public ClaimsPrincipal? Find(string token, object keys)
    {
        if (!Enabled || !_entries.TryGetValue(token, out var entry))
        {
            return null;
        }

        if (!ReferenceEquals(entry.Keys, keys) || clock.GetUtcNow() >= entry.Until)
        {
            _entries.TryRemove(new KeyValuePair<string, Entry>(token, entry));
            return null;
        }

        // A copy per request: the pipeline may add to a request's principal, which must not reach the next request.
        return new ClaimsPrincipal(entry.Identity.Clone());
    }

    /// <param name="validUntil">The token's expiry plus the allowed clock skew.</param>
    public void Add(string token, object keys, CallerClaimsIdentity identity, DateTimeOffset validUntil)
    {
        if (!Enabled)
        {
            return;
        }

        var now = clock.GetUtcNow();
        var until = validUntil < now + lifetime ? validUntil : now + lifetime;
        if (until <= now)
        {
            return;
        }

        if (_entries.Count >= capacity)
        {
            Prune(now);
        }

        _entries[token] = new Entry(identity, keys, until);
    }

    public int Count => _entries.Count;

    /// <summary>Drops what has expired; if the cache is still full, everything (it refills from the next requests).</summary>
    private void Prune(DateTimeOffset now)
    {
        foreach (var (token, entry) in _entries)
        {
            if (now >= entry.Until)
            {
                _entries.TryRemove(new KeyValuePair<string, Entry>(token, entry));
            }
        }

        if (_entries.Count >= capacity)
        {
            _entries.Clear();
        }
    }
}
