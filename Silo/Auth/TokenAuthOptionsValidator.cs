using System.Net;
using Microsoft.Extensions.Options;

namespace Mep.Silo.Auth;

/// <summary>Checks <c>Mep:Auth</c> when the silo starts; every message names the setting it is about.</summary>
public sealed class TokenAuthOptionsValidator : IValidateOptions<TokenAuthOptions>
{
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromMinutes(10);
    public static readonly TimeSpan MaxTokenCacheLifetime = TimeSpan.FromHours(1);

    public ValidateOptionsResult Validate(string? name, TokenAuthOptions options)
    {
        var errors = new List<string>();
        const string section = TokenAuthOptions.Section;
        if (options.ClockSkew < TimeSpan.Zero || options.ClockSkew > MaxClockSkew)
        {
            errors.Add($"{section}:ClockSkew {options.ClockSkew} must lie between 00:00:00 and {MaxClockSkew} (written hh:mm:ss)");
        }

        if (options.TokenCacheLifetime < TimeSpan.Zero || options.TokenCacheLifetime > MaxTokenCacheLifetime)
        {
            errors.Add($"{section}:TokenCacheLifetime {options.TokenCacheLifetime} must lie between 00:00:00 and {MaxTokenCacheLifetime} (written hh:mm:ss)");
        }

        if (options.TokenCacheCapacity < 0)
        {
            errors.Add($"{section}:TokenCacheCapacity {options.TokenCacheCapacity} must not be negative (0 turns the cache off)");
        }

        if (options.Issuers.Count == 0)
        {
            errors.Add($"{section}:Issuers: configure at least one token issuer (Issuer, Authority or JwksFile, Audiences)");
        }

        for (var i = 0; i < options.Issuers.Count; i++)
        {
            Check(options.Issuers[i], $"{section}:Issuers:{i}", errors);
            var earlier = options.Issuers.FindIndex(0, i, other => string.Equals(other.Issuer, options.Issuers[i].Issuer, StringComparison.Ordinal));
            if (earlier >= 0 && options.Issuers[i].Issuer.Length > 0)
            {
                errors.Add($"{section}:Issuers:{i}:Issuer '{options.Issuers[i].Issuer}' is configured already ({section}:Issuers:{earlier})");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Check(TokenIssuerOptions issuer, string path, List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(issuer.Issuer))
        {
            errors.Add($"{path}:Issuer is required: the exact 'iss' of the tokens");
        }

        var hasAuthority = !string.IsNullOrWhiteSpace(issuer.Authority);
        var hasFile = !string.IsNullOrWhiteSpace(issuer.JwksFile);
        if (hasAuthority == hasFile)
        {
            errors.Add($"{path}: set exactly one of Authority (OIDC discovery) and JwksFile (a local JWKS)");
        }
        else if (hasAuthority)
        {
            CheckAuthority(issuer.Authority!, $"{path}:Authority", errors);
        }
        else if (!Path.IsPathFullyQualified(issuer.JwksFile!))
        {
            errors.Add($"{path}:JwksFile '{issuer.JwksFile}' must be an absolute path");
        }
        else
        {
            try
            {
                JwksFile.Load(issuer.JwksFile!);
            }
            catch (InvalidDataException e)
            {
                errors.Add($"{path}:JwksFile {e.Message}");
            }
        }

        if (issuer.Audiences.Count == 0 || issuer.Audiences.Any(string.IsNullOrWhiteSpace))
        {
            errors.Add($"{path}:Audiences: list the accepted 'aud' values (none may be empty)");
        }

        if (issuer.IdentitySetClaim is { } claim && claim.Trim() != claim)
        {
            errors.Add($"{path}:IdentitySetClaim '{claim}' has surrounding spaces");
        }
    }

    private static void CheckAuthority(string authority, string path, List<string> errors)
    {
        if (!Uri.TryCreate(authority, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http")
            || uri.Query.Length > 0 || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0)
        {
            errors.Add($"{path} '{authority}' must be an http(s) URL without query, fragment or credentials");
        }
        else if (uri.Scheme == "http" && !IsLoopback(uri))
        {
            errors.Add($"{path} '{authority}' must use https (plain http only on a loopback address)");
        }
    }

    /// <summary>Plain http is allowed to the same host only: nobody on the network can change what it answers.</summary>
    internal static bool IsLoopback(Uri uri) =>
        uri.IsLoopback || (IPAddress.TryParse(uri.IdnHost, out var address) && IPAddress.IsLoopback(address));
}
