namespace Mep.Grains.Broker;

/// <summary>A broker user and its password; deconstructs as <c>var (username, password) = …</c>.</summary>
public sealed record BrokerCredentials(string Username, string Password)
{
    // Records print every member; a password must never reach a log line through ToString.
    public override string ToString() => $"BrokerCredentials {{ Username = {Username}, Password = *** }}";
}
