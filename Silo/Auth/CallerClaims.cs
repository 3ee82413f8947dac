using System.Text.Json;
using Mep.Contracts.Model;
using Mep.Protocol.Auth;

namespace Mep.Silo.Auth;

/// <summary>
/// Builds the <see cref="CallerIdentity"/> from a validated token's payload (read as JSON, so that the identity set
/// arrives as the issuer wrote it, without claim mapping).
/// </summary>
public static class CallerClaims
{
    /// <summary>The caller, or the reason the token cannot name one (it is then refused with 401).</summary>
    /// <param name="payload">The token's claims (a JSON object).</param>
    /// <param name="issuer">The validated <c>iss</c>.</param>
    /// <param name="identitySetClaim">The issuer's identity-set claim name, or null when it sends none.</param>
    public static (CallerIdentity? Caller, string? Reason) FromPayload(JsonElement payload, string issuer, string? identitySetClaim)
    {
        if (String(payload, MepClaims.IdentityId) is not { Length: > 0 } subject)
        {
            return (null, "token lacks the sub claim");
        }

        if (String(payload, MepClaims.Username) is not { Length: > 0 } username)
        {
            return (null, "token lacks the preferred_username claim");
        }

        DateTimeOffset? authTime = null;
        if (payload.TryGetProperty(MepClaims.AuthTime, out var at))
        {
            if (at.ValueKind != JsonValueKind.Number || !at.TryGetDouble(out var seconds) || !double.IsFinite(seconds)
                || seconds < 0 || seconds >= DateTimeOffset.MaxValue.ToUnixTimeSeconds())
            {
                return (null, "auth_time is not a NumericDate");
            }

            authTime = DateTimeOffset.UnixEpoch.AddTicks((long)(seconds * TimeSpan.TicksPerSecond));
        }

        var name = String(payload, MepClaims.Name);
        var email = String(payload, MepClaims.Email);
        var idp = String(payload, MepClaims.IdentityProvider) is { Length: > 0 } given ? given : issuer;

        // Globus Auth's ids are UUIDs and are used as they are; any other subject gets an id of its own issuer.
        var identityId = Guid.TryParseExact(subject, "D", out var uuid) ? uuid.ToString() : MepClaims.IdentityIdFor(issuer, subject).ToString();

        IReadOnlyList<LinkedIdentity> linked;
        if (identitySetClaim is not null && payload.TryGetProperty(identitySetClaim, out var set))
        {
            var (identities, reason) = IdentitySet(set, identitySetClaim, subject);
            if (identities is null)
            {
                return (null, reason);
            }

            linked = identities;
        }
        else
        {
            linked = [LinkedIdentity.Of(subject, username, idp, name, email, LinkedIdentity.Used)];
        }

        return (new CallerIdentity(identityId, username, idp, name, email) { LinkedIdentities = linked, AuthTime = authTime }, null);
    }

    /// <summary>
    /// The identity set in token order: objects with <c>id</c> (or Globus's <c>sub</c>) and <c>username</c>; others are
    /// skipped. Scalars are kept as strings (numbers as written), nested values dropped. The token's own identity
    /// must be among them and counts as <c>used</c> unless the issuer said otherwise.
    /// </summary>
    private static (List<LinkedIdentity>? Identities, string? Reason) IdentitySet(JsonElement set, string claim, string subject)
    {
        if (set.ValueKind != JsonValueKind.Array)
        {
            return (null, $"the {claim} claim is not a list");
        }

        var identities = new List<LinkedIdentity>();
        var own = false;
        foreach (var entry in set.EnumerateArray())
        {
            if (entry.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            var fields = new Dictionary<string, string?>(); // ordinal, and no comparer for the serializer to carry
            foreach (var property in entry.EnumerateObject())
            {
                if (Scalar(property.Value, out var value))
                {
                    fields[property.Name] = value;
                }
            }

            // Globus Auth names the id "sub"; mapping rules and policies know it as "id".
            if (fields.Remove("sub", out var sub) && !fields.ContainsKey("id"))
            {
                fields["id"] = sub;
            }

            if (string.IsNullOrEmpty(fields.GetValueOrDefault("id")) || string.IsNullOrEmpty(fields.GetValueOrDefault("username")))
            {
                continue;
            }

            if (string.Equals(fields["id"], subject, StringComparison.OrdinalIgnoreCase))
            {
                own = true;
                if (fields.GetValueOrDefault("status") is null)
                {
                    fields["status"] = LinkedIdentity.Used;
                }
            }

            identities.Add(new LinkedIdentity(fields));
        }

        return own ? (identities, null) : (null, $"the {claim} claim lacks the token's own identity (sub)");
    }

    private static bool Scalar(JsonElement value, out string? text)
    {
        text = value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Number => value.GetRawText(),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => null,
        };
        return value.ValueKind is not (JsonValueKind.Object or JsonValueKind.Array or JsonValueKind.Undefined);
    }

    private static string? String(JsonElement payload, string claim) =>
        payload.TryGetProperty(claim, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
