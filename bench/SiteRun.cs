using System.Globalization;
using Mep.Bench.Experiments;
using Mep.Bench.Site;
using Spectre.Console;

namespace Mep.Bench;

/// <summary>One run: the site up, each chosen experiment under its own progress bar, the summary, the site down.</summary>
internal static class SiteRun
{
    private delegate Task Experiment(BenchContext ctx, Results results, ProgressTask progress, CancellationToken ct);

    private static readonly (int Number, string Name, Experiment Run)[] All =
    [
        (3, WarmLatency.Name, WarmLatency.RunAsync),
        (4, Throughput.Name, Throughput.RunAsync),
        (1, UepCreation.Name, UepCreation.RunAsync),
        (2, StrongScaling.Name, StrongScaling.RunAsync),
        (5, Footprint.Name, Footprint.RunAsync),
        (6, ColdStart.Name, ColdStart.RunAsync),
    ];

    public static async Task<int> RunAsync(IAnsiConsole console, SiteSettings settings, SiteRunSettings run, CancellationToken ct)
    {
        void Say(string line) => console.MarkupLine($"[grey]{DateTime.Now:HH:mm:ss}[/] {Markup.Escape(line)}");
        var stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        var loadBefore = LoadAverage();
        var results = new Results();
        try
        {
            await using var site = await BenchSite.StartAsync(settings, Say, ct);
            var ctx = await BenchContext.CreateAsync(site, run, Say, ct);
            var chosen = All.Where(e => run.Experiments.Contains(e.Number)).ToList();
            await console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .StartAsync(async progress =>
                {
                    var bars = chosen.Select(e => (e, progress.AddTask(e.Name, autoStart: false))).ToList();
                    foreach (var (experiment, bar) in bars)
                    {
                        bar.StartTask();
                        await experiment.Run(ctx, results, bar, ct);
                        site.EnsureAlive();
                        bar.Value = bar.MaxValue;
                        bar.StopTask();
                    }
                });
        }
        catch (Exception e) when (e is SiteFailedException or BenchTaskFailedException or Sdk.MepApiException or Sdk.TaskFailedException
            or InvalidOperationException or HttpRequestException or TimeoutException or RabbitMQ.Client.Exceptions.BrokerUnreachableException)
        {
            console.MarkupLine($"[red]mep-bench site: FAILED, no figures reported: {Markup.Escape(e.Message)}[/]");
            console.MarkupLine($"[grey]site logs: {Markup.Escape(settings.LogDirectory)}[/]");
            return 1;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            console.MarkupLine("[red]mep-bench site: interrupted; the site is stopped, no figures reported[/]");
            return 130;
        }
        var context = new[]
        {
            $"machine: {Environment.ProcessorCount} cores, load average {loadBefore} at the start and {LoadAverage()} at the end (1/5/15 min; other work on the machine shows here)",
            $"site: private single node (SQLite, RabbitMQ quorum queues, root launcher, silo as {settings.ServiceAccount}); UEPs of one Unix account ({settings.BenchUser}), one per distinct user config",
            $"sizes: {(run.Quick ? "QUICK (scaled down)" : "full")}",
            $"silo settings beyond run.sh's: {(settings.SiloSettings.Count == 0 ? "none" : string.Join(", ", settings.SiloSettings))}",
        };
        Plots.Write(run.ResultsDirectory, stamp, results, run.Quick);
        SiteReport.Print(console, results);
        var written = SiteReport.Write(run.ResultsDirectory, stamp, run, results, context);
        console.MarkupLine($"[grey]written:[/] {Markup.Escape(written)} and its CSVs beside it");
        return 0;
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "?";
        }
    }
}
