using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Mep.Protocol.Tls;

/// <summary>
/// The certificate check of a TLS client that takes a validation callback (RabbitMQ.Client's <c>SslOption</c>):
/// with a <see cref="PrivateTrust"/>, the chain must end in its CA; without, in the system's store. The host name must
/// match either way. Keeps the last refusal's reason, because the client library reports only that the callback said no.
/// </summary>
public sealed class ServerCertificateCheck(PrivateTrust? trust)
{
    /// <summary>Why the last certificate was refused; null while none was.</summary>
    public string? Refusal { get; private set; }

    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        string reason;
        if (trust is not null)
        {
            if (trust.Accepts(certificate, errors, out reason))
            {
                return true;
            }
        }
        else if (errors == SslPolicyErrors.None)
        {
            return true;
        }
        else
        {
            reason = $"the server's certificate is refused ({errors}); if a private CA issued it, give its CA file";
        }

        Refusal = reason;
        return false;
    }
}
