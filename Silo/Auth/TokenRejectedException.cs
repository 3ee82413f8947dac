namespace Mep.Silo.Auth;

/// <summary>A bearer token refused for a reason of our own (not one of IdentityModel's): the reason is the message.</summary>
public sealed class TokenRejectedException(string reason, Exception? inner = null) : Exception(reason, inner)
{
    public const string KeysUnavailable = "the issuer's signing keys are unavailable";
}
