using System.CommandLine;
using System.Globalization;
using Mep.Bench.Experiments;
using Mep.Bench.Site;
using Spectre.Console;

namespace Mep.Bench;

/// <summary>
/// <c>mep-bench site</c>: starts a private MEP site, runs the experiments of issue 9 against it with their baselines,
/// and writes the summary. Exit codes: 0 measured (whatever the goals say), 1 the site failed or a task failed (no
/// figures are written then), 2 usage.
/// </summary>
internal static class SiteCommand
{
    public static Command Create()
    {
        var bin = new Option<string>("--bin") { Description = "run.sh's publish directory (silo/, launcher/, endpoint/, mep/)", Required = true };
        var repo = new Option<string>("--repo") { Description = "The checkout (for scripts/rabbitmq-node)", Required = true };
        var runtime = new Option<string>("--runtime") { Description = "The private site's directory (an earlier run's is emptied first; any other non-empty directory is refused)", Required = true };
        var results = Opt("--results", Path.Combine("bench", "results"), "Directory for site-<time>.md, CSVs and plots");
        var account = Opt("--service-account", "mep", "The silo's account");
        var user = Opt("--bench-user", "mep-bench", "The Unix account the bench identity maps to (created when missing)");
        var quick = Opt("--quick", false, "Scaled-down sizes (a few minutes on an idle machine)");
        var only = new Option<int[]>("--only") { Description = "Experiments to run (1..6; default all)", AllowMultipleArgumentsPerToken = true };
        var apiPort = Opt("--api-port", 8490, "The site's REST API port");
        var amqpPort = Opt("--amqp-port", 5702, "The site's RabbitMQ AMQP port");
        var mgmtPort = Opt("--mgmt-port", 15702, "The site's RabbitMQ management port");
        var siloPort = Opt("--silo-port", 11191, "Orleans silo port");
        var gatewayPort = Opt("--gateway-port", 30091, "Orleans gateway port");
        var siloSettings = new Option<string[]>("--silo-setting")
        {
            Description = "Extra silo setting Key=Value under Mep: (repeatable), e.g. Broker:EventPollInterval=00:00:00.005",
            AllowMultipleArgumentsPerToken = false,
        };

        var command = new Command("site", "The paper's experiments and issue 9's limits against a private MEP site")
        {
            bin, repo, runtime, results, account, user, quick, only, apiPort, amqpPort, mgmtPort, siloPort, gatewayPort, siloSettings,
        };
        command.SetAction(async (parse, ct) =>
        {
            var console = AnsiConsole.Console;
            if (Console.IsOutputRedirected)
            {
                console.Profile.Width = 160;
            }
            SiteSettings site;
            SiteRunSettings run;
            try
            {
                site = new SiteSettings
                {
                    BinDirectory = Path.GetFullPath(parse.GetRequiredValue(bin)),
                    RepoDirectory = Path.GetFullPath(parse.GetRequiredValue(repo)),
                    RuntimeDirectory = Path.GetFullPath(parse.GetRequiredValue(runtime)),
                    ServiceAccount = parse.GetRequiredValue(account),
                    BenchUser = parse.GetRequiredValue(user),
                    ApiPort = parse.GetValue(apiPort),
                    AmqpPort = parse.GetValue(amqpPort),
                    ManagementPort = parse.GetValue(mgmtPort),
                    SiloPort = parse.GetValue(siloPort),
                    GatewayPort = parse.GetValue(gatewayPort),
                    SiloSettings = parse.GetValue(siloSettings) ?? [],
                };
                site.Validate();
                var chosen = parse.GetValue(only) is { Length: > 0 } list ? list.ToHashSet() : [1, 2, 3, 4, 5, 6];
                if (chosen.Any(e => e is < 1 or > 6))
                {
                    throw new ArgumentException("--only takes experiment numbers 1..6");
                }
                run = new SiteRunSettings
                {
                    Quick = parse.GetValue(quick),
                    ResultsDirectory = Path.GetFullPath(parse.GetRequiredValue(results)),
                    Experiments = chosen,
                };
            }
            catch (ArgumentException e)
            {
                console.MarkupLine($"[red]mep-bench site: {Markup.Escape(e.Message)}[/]");
                return 2;
            }
            return await SiteRun.RunAsync(console, site, run, ct);
        });
        return command;
    }

    private static Option<T> Opt<T>(string name, T defaultValue, string description) =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue };
}
