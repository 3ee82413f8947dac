using System.CommandLine;
using Mep.Cli.Doctor;

namespace Mep.Cli.Commands;

/// <summary>
/// <c>mep doctor</c>: checks this node's MEP as its silo would see it (service account, endpoint directories, launcher
/// socket, broker, database, Slurm) and prints one line per finding, each failure with how to fix it. Changes nothing.
/// Exit 0 when nothing failed (warnings allowed), 1 when something did, 2 for usage errors.
/// </summary>
internal static class DoctorCommand
{
    public static Command Create(CliContext context)
    {
        var envFile = new Option<string?>("--env-file") { Description = "The silo's environment file (systemd EnvironmentFile=, e.g. /etc/mep/silo.env)" };
        var set = new Option<string[]>("--set")
        {
            Description = "A silo setting KEY=VALUE (e.g. Mep:LauncherSocket=/run/mep/launcher.sock; repeatable; wins over the file)",
            AllowMultipleArgumentsPerToken = false,
        };
        var command = new Command("doctor", "Check this node's MEP setup and say what is wrong and how to fix it") { envFile, set };
        context.SetAction(command, async (parse, ct) =>
        {
            var settings = DoctorSettings.Read(parse.GetValue(envFile), parse.GetValue(set) ?? []);
            var findings = new List<Finding>();
            void Report(IEnumerable<Finding> some)
            {
                foreach (var finding in some)
                {
                    findings.Add(finding);
                    (finding.Level == FindingLevel.Fail ? context.Error : context.Out).WriteLine(finding.ToString());
                }
            }

            Report(DoctorChecks.ServiceAccount(settings));
            Report(DoctorChecks.Endpoints(settings));
            Report(await DoctorChecks.LauncherAsync(settings));
            Report(await DoctorChecks.BrokerAsync(settings));
            Report(await DoctorChecks.DatabaseAsync(settings));
            Report(await DoctorChecks.SlurmAsync());
            var failed = findings.Count(f => f.Level == FindingLevel.Fail);
            var warned = findings.Count(f => f.Level == FindingLevel.Warn);
            context.Out.WriteLine(failed == 0
                ? $"no problems found ({findings.Count} checks, {warned} warning(s))"
                : $"{failed} problem(s) found ({findings.Count} checks, {warned} warning(s))");
            return failed == 0 ? CliContext.ExitOk : 1;
        });
        return command;
    }
}
