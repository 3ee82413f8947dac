using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;

namespace Mep.Silo.Auth;

/// <summary>
/// An issuer's keys from a local JWKS file, for the JWT bearer handler. The file is checked on every request (one
/// stat) and re-read when its time or size changed, or when the handler met an unknown key (<see cref="RequestRefresh"/>),
/// so a rotated key works for the next request without a restart. A broken rewrite keeps the previous keys.
/// </summary>
/// <remarks>
/// Deliberately not a <c>BaseConfigurationManager</c>: the handler then awaits us before validating, so a file that was
/// never readable fails the request as "signing keys unavailable" instead of being swallowed.
/// </remarks>
internal sealed class JwksFileConfigurationManager(string issuer, string path, ILogger logger) : IConfigurationManager<OpenIdConnectConfiguration>
{
    private readonly Lock gate = new();
    private OpenIdConnectConfiguration? current;
    private (DateTime Written, long Length)? loadedStamp;
    private bool refreshRequested;

    public Task<OpenIdConnectConfiguration> GetConfigurationAsync(CancellationToken cancel) => Task.FromResult(Current());

    public void RequestRefresh()
    {
        lock (gate)
        {
            refreshRequested = true;
        }
    }

    private OpenIdConnectConfiguration Current()
    {
        var info = new FileInfo(path);
        (DateTime, long)? stamp = info.Exists ? (info.LastWriteTimeUtc, info.Length) : null;
        lock (gate)
        {
            if (current is not null && stamp == loadedStamp && !refreshRequested)
            {
                return current;
            }

            refreshRequested = false;
            loadedStamp = stamp;
            try
            {
                var keys = JwksFile.Load(path);
                var configuration = new OpenIdConnectConfiguration { Issuer = issuer };
                foreach (var key in keys)
                {
                    configuration.SigningKeys.Add(key);
                }

                logger.LogInformation("Issuer {Issuer}: {Count} signing keys from {Path} ({KeyIds})", issuer, keys.Count, path, string.Join(", ", keys.Select(k => k.KeyId)));
                return current = configuration;
            }
            catch (InvalidDataException e)
            {
                if (current is null)
                {
                    logger.LogError("Issuer {Issuer}: no signing keys: {Reason}", issuer, e.Message);
                    throw new TokenRejectedException(TokenRejectedException.KeysUnavailable, e);
                }

                logger.LogWarning("Issuer {Issuer}: keeping the previous signing keys: {Reason}", issuer, e.Message);
                return current;
            }
        }
    }
}
