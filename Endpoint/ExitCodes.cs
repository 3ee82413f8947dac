namespace Mep.Endpoint;

/// <summary>Process exit codes; the launcher reports them to the silo, which records the UEP as stopped or failed.</summary>
internal static class ExitCodes
{
    /// <summary>Stopped on purpose: idle timeout or SIGTERM/SIGINT. A Stopping event was published if the broker allowed.</summary>
    public const int Ok = 0;

    /// <summary>A bug: an exception nothing else handled.</summary>
    public const int InternalError = 1;

    /// <summary>The start document on stdin was missing, too large, malformed or inconsistent.</summary>
    public const int BadStartDocument = 2;

    /// <summary>The broker refused us or went away: cannot connect, connection not recovered in time, channel closed by the broker, consumer cancelled.</summary>
    public const int BrokerFailure = 3;
}
