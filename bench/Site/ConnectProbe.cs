using System.Globalization;
using RabbitMQ.Client;

namespace Mep.Bench.Site;

/// <summary>
/// <c>mep-bench connect-probe PORT VHOST</c> (internal): the bare part of a UEP start, run as the bench user by the
/// creation baseline — a fresh .NET process with the same runtime and RabbitMQ client as the UEP opens an AMQP
/// connection and a channel to the site's broker, then exits. Credentials come in the environment
/// (MEP_BENCH_PROBE_USER, MEP_BENCH_PROBE_PASSWORD), never on a command line.
/// </summary>
internal static class ConnectProbe
{
    public const string Command = "connect-probe";

    public static async Task<int> RunAsync(string[] args)
    {
        if (args is not [var port, var vhost])
        {
            await Console.Error.WriteLineAsync($"usage: mep-bench {Command} AMQP_PORT VIRTUAL_HOST");
            return 2;
        }
        var factory = new ConnectionFactory
        {
            HostName = "127.0.0.1",
            Port = int.Parse(port, CultureInfo.InvariantCulture),
            VirtualHost = vhost,
            UserName = Environment.GetEnvironmentVariable("MEP_BENCH_PROBE_USER") ?? "guest",
            Password = Environment.GetEnvironmentVariable("MEP_BENCH_PROBE_PASSWORD") ?? "guest",
            ClientProvidedName = "mep-bench-connect-probe",
        };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        return 0;
    }
}
