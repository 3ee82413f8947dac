using System.Globalization;
using Mep.Protocol.Launcher;
using RabbitMQ.Client;

namespace Mep.Endpoint;

/// <summary>
/// <c>mep-endpoint probe-connect HOST PORT VHOST [CA_FILE]</c> (AMQPS, verified against CA_FILE or the system's store): the bare part of a UEP start, without MEP — this program's
/// start-up, the UEP's own broker connect (<see cref="BrokerConnect"/>) and one channel, then exit 0. mep-bench runs it
/// as the user as the baseline of a cold start, so that both sides pay for the same runtime and client library.
/// Credentials come in the environment (<see cref="UserVariable"/>, <see cref="PasswordVariable"/>), never on the
/// command line, where other users could read them from /proc.
/// </summary>
internal static class ConnectProbe
{
    public const string Command = "probe-connect";
    public const string UserVariable = "MEP_PROBE_BROKER_USER";
    public const string PasswordVariable = "MEP_PROBE_BROKER_PASSWORD";

    public static async Task<int> RunAsync(string[] args)
    {
        var caFile = args.Length == 4 ? args[3] : null;
        if (args is not [var host, var portText, var vhost, ..] || args.Length > 4 || !int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            || Environment.GetEnvironmentVariable(UserVariable) is not { Length: > 0 } user
            || Environment.GetEnvironmentVariable(PasswordVariable) is not { } password)
        {
            await Console.Error.WriteLineAsync($"usage: {UserVariable}=U {PasswordVariable}=P mep-endpoint {Command} HOST PORT VHOST [CA_FILE]").ConfigureAwait(false);
            return ExitCodes.BadStartDocument;
        }

        // Only the connection fields matter: the probe declares, consumes and publishes nothing.
        // As a UEP does (the probe is its baseline).
        TrustStoreLocation.TrustOnly(caFile);
        var broker = new BrokerCredentials(host, port, vhost, user, password, "", "", "", "", "", Tls: true, CaFile: caFile);
        try
        {
            await using var connection = await BrokerConnect.ConnectAsync(broker, $"mep-endpoint {Command} pid={Environment.ProcessId}", TimeSpan.Zero, CancellationToken.None)
                .ConfigureAwait(false);
            await using var channel = await connection.CreateChannelAsync().ConfigureAwait(false);
            return ExitCodes.Ok;
        }
        catch (BrokerException e)
        {
            Log.Error(e.Message);
            return ExitCodes.BrokerFailure;
        }
    }
}
