using System.Net;

namespace Mep.Grains.Broker;

/// <summary>The management API refused or failed a request; the message names the request and the broker's reason.</summary>
public sealed class BrokerAdminException(string message, HttpStatusCode? status = null, Exception? inner = null)
    : Exception(message, inner)
{
    public HttpStatusCode? StatusCode { get; } = status;
}
