using System.Diagnostics;

namespace Mep.Bench.Experiments;

/// <summary>
/// The baseline of UEP creation: the bare UEP program started as the bench user without MEP (setpriv to the user,
/// then <c>mep-endpoint --help</c>, which loads the runtime and the program and exits) plus a broker connect (a fresh
/// AMQP connection and channel) — what any UEP start costs whoever starts it.
/// </summary>
internal static class BareStart
{
    /// <summary>Starts <paramref name="count"/> bare programs at once; the time until the last one exited.</summary>
    public static async Task<TimeSpan> ProcessesAsync(BenchContext ctx, int count, CancellationToken ct)
    {
        var user = ctx.Site.Settings.BenchUser;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, count).Select(async _ =>
        {
            var psi = new ProcessStartInfo("setpriv", ["--reuid", user, "--regid", user, "--init-groups", "--", ctx.Site.EndpointProgram, "--help"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = "/",
            };
            using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start setpriv");
            await Task.WhenAll(process.StandardOutput.ReadToEndAsync(ct), process.StandardError.ReadToEndAsync(ct));
            await process.WaitForExitAsync(ct);
            if (process.ExitCode != 0)
            {
                throw new BenchTaskFailedException($"the bare UEP program exited with {process.ExitCode} as {user}");
            }
        }));
        return clock.Elapsed;
    }

    /// <summary>Opens <paramref name="count"/> fresh broker connections at once; the time until the last is open.</summary>
    public static async Task<TimeSpan> ConnectsAsync(RawBroker broker, int count, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, count).Select(_ => broker.ConnectOnceAsync(ct)));
        return clock.Elapsed;
    }

    /// <summary>Median over <paramref name="samples"/> of starting <paramref name="count"/> bare UEPs at once (process + connect), in seconds.</summary>
    public static async Task<double> MedianAsync(BenchContext ctx, RawBroker broker, int count, int samples, CancellationToken ct)
    {
        var process = new List<double>();
        var connect = new List<double>();
        for (var i = 0; i < samples; i++)
        {
            process.Add((await ProcessesAsync(ctx, count, ct)).TotalSeconds);
            connect.Add((await ConnectsAsync(broker, count, ct)).TotalSeconds);
        }
        return Stats.Median(process) + Stats.Median(connect);
    }
}
