using System.Security.Cryptography;
using System.Text;
using Mep.Protocol;

namespace Mep.Grains.UserConfig;

/// <summary>
/// The UEP id: a UUID from SHA-256 of (endpoint id, identity id, canonical config). The same inputs give the same id on
/// every node and after restarts; changing any of them (even a label in the config) gives a new user endpoint.
/// </summary>
public static class UserEndpointId
{
    public static string Derive(string endpointId, string identityId, string canonicalConfigJson)
    {
        var text = $"mep-user-endpoint\n{endpointId.ToLowerInvariant()}\n{identityId.ToLowerInvariant()}\n{canonicalConfigJson}";
        return Uuid.FromHash(SHA256.HashData(Encoding.UTF8.GetBytes(text))).ToString();
    }
}
