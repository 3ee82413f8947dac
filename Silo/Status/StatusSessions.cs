using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Mep.Contracts.Model;

namespace Mep.Silo.Status;

/// <summary>
/// Browser sessions of the status page and the Orleans dashboard. A browser sends no bearer header, so an admin
/// exchanges a token once (<c>POST /status/session</c> with the bearer header) for a cookie holding a random
/// 256-bit session id: HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Secure over
/// HTTPS, and at most <see cref="MaxLifetime"/> (never past the token's own expiry). The session lives in this silo's
/// memory only, keyed by the id's hash: a restart or another node needs a new sign-in, and a stolen database holds
/// nothing. The cookie is honoured on the status and dashboard paths only, never by the <c>/v1</c> API.
/// </summary>
internal sealed class StatusSessions(TimeProvider time)
{
    public const string CookieName = "mep-status";
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromMinutes(30);
    private const int MaxSessions = 10_000;

    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);

    /// <summary>Starts a session for <paramref name="caller"/> and sets its cookie on the response.</summary>
    public DateTimeOffset Start(HttpContext http, CallerIdentity caller, DateTimeOffset? tokenExpires)
    {
        var now = time.GetUtcNow();
        Prune(now);
        if (_sessions.Count >= MaxSessions)
        {
            throw new ProblemException(503, "Service unavailable", "too many status page sessions on this node; try again later", retryAfterSeconds: 60);
        }

        var expires = now + MaxLifetime;
        if (tokenExpires is { } t && t < expires)
        {
            expires = t;
        }

        var id = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        _sessions[Key(id)] = new Session(caller, expires);
        http.Response.Cookies.Append(CookieName, id, Options(http, expires));
        return expires;
    }

    /// <summary>The caller of the request's session; null without a cookie or when it is unknown or expired.</summary>
    public (CallerIdentity Caller, DateTimeOffset Expires)? Find(HttpContext http)
    {
        if (!http.Request.Cookies.TryGetValue(CookieName, out var id) || string.IsNullOrEmpty(id) || id.Length > 100)
        {
            return null;
        }

        if (!_sessions.TryGetValue(Key(id), out var session))
        {
            return null;
        }

        if (session.Expires <= time.GetUtcNow())
        {
            _sessions.TryRemove(Key(id), out _);
            return null;
        }

        return (session.Caller, session.Expires);
    }

    public void End(HttpContext http)
    {
        if (http.Request.Cookies.TryGetValue(CookieName, out var id) && !string.IsNullOrEmpty(id))
        {
            _sessions.TryRemove(Key(id), out _);
        }

        http.Response.Cookies.Delete(CookieName, Options(http, null));
    }

    private static CookieOptions Options(HttpContext http, DateTimeOffset? expires) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = http.Request.IsHttps,
        Path = "/",
        Expires = expires,
        IsEssential = true,
    };

    private void Prune(DateTimeOffset now)
    {
        foreach (var (key, session) in _sessions)
        {
            if (session.Expires <= now)
            {
                _sessions.TryRemove(key, out _);
            }
        }
    }

    private static string Key(string id) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(id)));

    private sealed record Session(CallerIdentity Caller, DateTimeOffset Expires);
}
