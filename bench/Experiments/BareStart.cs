using System.Diagnostics;

namespace Mep.Bench.Experiments;

/// <summary>
/// The baseline of a UEP start, without MEP: the UEP program itself started as the bench user (setpriv) in its probe
/// mode, <c>mep-endpoint probe-connect HOST PORT VHOST CA_FILE</c> (Endpoint/ConnectProbe.cs), which opens a broker connection
/// with the UEP's own connect code and a channel, then exits: the same binary, runtime and client as a UEP, so the
/// ratio measures what MEP adds. Also the program's bare start (<c>mep-endpoint --help</c>: load only, no connect).
/// </summary>
internal static class BareStart
{
    /// <summary>Starts <paramref name="count"/> probes at once; the time until the last one exited.</summary>
    public static Task<TimeSpan> ConnectingAsync(BenchContext ctx, int count, CancellationToken ct) =>
        AsUserAsync(ctx, count, ctx.Site.EndpointProgram,
            ["probe-connect", "127.0.0.1", ctx.Broker.AmqpPort.ToString(System.Globalization.CultureInfo.InvariantCulture), RawBroker.VirtualHost, ctx.Site.CaFile], ct);

    /// <summary>The UEP program alone: <c>mep-endpoint --help</c> as the user.</summary>
    public static Task<TimeSpan> ProgramOnlyAsync(BenchContext ctx, CancellationToken ct) =>
        AsUserAsync(ctx, 1, ctx.Site.EndpointProgram, ["--help"], ct);

    private static async Task<TimeSpan> AsUserAsync(BenchContext ctx, int count, string program, string[] args, CancellationToken ct)
    {
        var user = ctx.Site.Settings.BenchUser;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, count).Select(async _ =>
        {
            var psi = new ProcessStartInfo("setpriv", ["--reuid", user, "--regid", user, "--init-groups", "--", program, .. args])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = "/",
            };
            // The probe's credentials (never on its command line); --help ignores them.
            psi.Environment["MEP_PROBE_BROKER_USER"] = ctx.Broker.User;
            psi.Environment["MEP_PROBE_BROKER_PASSWORD"] = ctx.Broker.Password;
            using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start setpriv");
            var output = await Task.WhenAll(process.StandardOutput.ReadToEndAsync(ct), process.StandardError.ReadToEndAsync(ct));
            await process.WaitForExitAsync(ct);
            if (process.ExitCode != 0)
            {
                throw new BenchTaskFailedException($"{program} {string.Join(' ', args)} exited with {process.ExitCode} as {user}: {output[1].Trim()}");
            }
        }));
        return clock.Elapsed;
    }

    /// <summary>Median over <paramref name="samples"/> of <paramref name="count"/> probes at once, in seconds.</summary>
    public static async Task<double> MedianAsync(BenchContext ctx, int count, int samples, CancellationToken ct)
    {
        var times = new List<double>();
        for (var i = 0; i < samples; i++)
        {
            times.Add((await ConnectingAsync(ctx, count, ct)).TotalSeconds);
        }
        return Stats.Median(times);
    }
}
