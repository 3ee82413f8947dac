using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Mep.Protocol.Config;
using Mep.Protocol.Shell;

namespace Mep.Endpoint.Providers.Slurm;

/// <summary>
/// The batch script of one block: #SBATCH directives from the provider settings, the user's worker_init, then one
/// worker per node through srun. The settings are the user's (or the admin's template) and the job runs as the user,
/// so this guards against mistakes rather than attacks: every value must stay on its own #SBATCH line, and the worker's
/// command line is shell-quoted word by word.
/// </summary>
internal static partial class SlurmBatchScript
{
    public const string ScriptName = "submit.sh";

    /// <summary>Refuses settings that cannot be written into a batch script; the message names the setting.</summary>
    public static void Validate(ProviderConfig config)
    {
        Name(config.Partition, "partition");
        Name(config.Account, "account");
        Name(config.Qos, "qos");
        if (config.Walltime is { } walltime && !Walltime().IsMatch(walltime))
        {
            throw Bad("walltime", "must be a Slurm time limit such as 30, 01:00:00 or 2-00:00:00");
        }

        if (config.NodesPerBlock is < 1)
        {
            throw Bad("nodes_per_block", "must be at least 1");
        }

        if (config.WorkerInit?.Contains('\0') == true)
        {
            throw Bad("worker_init", "must not contain NUL characters");
        }

        _ = SchedulerLines(config.SchedulerOptions);
    }

    public static string Render(ProviderConfig config, string uepId, WorkerLaunch launch)
    {
        Validate(config);
        var logs = launch.LogDirectory;
        if (!Path.IsPathFullyQualified(logs) || logs.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '"' or '\'' or '\\' or '%'))
        {
            // Slurm expands % in --output and splits #SBATCH lines at blanks: such a path would log somewhere else.
            throw new ProviderException($"the block's log directory cannot be named in a batch script: {logs}");
        }

        if (!Path.IsPathFullyQualified(launch.Program) || launch.Program.Contains('\0') || launch.Arguments.Any(a => a.Contains('\0')))
        {
            throw new ProviderException("the worker command must be an absolute program path and arguments without NUL characters");
        }

        // The launch carries the worker_init (as for the local provider); the config's is the fallback, and the same text.
        var workerInit = launch.WorkerInit ?? config.WorkerInit;
        if (workerInit?.Contains('\0') == true)
        {
            throw Bad("worker_init", "must not contain NUL characters");
        }

        var nodes = config.NodesPerBlock ?? 1;
        var sb = new StringBuilder();
        sb.Append("#!/bin/bash\n");
        sb.Append(CultureInfo.InvariantCulture, $"# MEP user endpoint {Safe(uepId, 64)}, block {Safe(launch.BlockId, 64)}: written and submitted by mep-endpoint.\n");
        Directive(sb, "--job-name=" + JobName(uepId, launch.BlockId));
        Directive(sb, $"--output={logs}/slurm-%j.out");
        Directive(sb, $"--error={logs}/slurm-%j.err");
        Directive(sb, "--nodes=" + nodes.ToString(CultureInfo.InvariantCulture));
        Directive(sb, "--ntasks-per-node=1");
        Optional(sb, "--partition=", config.Partition);
        Optional(sb, "--account=", config.Account);
        Optional(sb, "--qos=", config.Qos);
        Optional(sb, "--time=", config.Walltime);
        if (config.Exclusive ?? true)
        {
            Directive(sb, "--exclusive");
        }

        foreach (var line in SchedulerLines(config.SchedulerOptions))
        {
            sb.Append(line).Append('\n');
        }

        sb.Append('\n');
        if (!string.IsNullOrWhiteSpace(workerInit))
        {
            sb.Append("# worker_init\n").Append(workerInit.TrimEnd('\n')).Append("\n\n");
        }

        sb.Append("# one worker per node\n");
        sb.Append("srun --ntasks-per-node=1 --nodes=").Append(nodes.ToString(CultureInfo.InvariantCulture));
        foreach (var word in new[] { launch.Program }.Concat(launch.Arguments))
        {
            sb.Append(' ').Append(ShellQuote.Quote(word));
        }

        sb.Append('\n');
        return sb.ToString();
    }

    /// <summary><c>mep-{first 8 of the UEP id}-{block}</c>: recognisable in squeue, safe as a job name.</summary>
    public static string JobName(string uepId, string blockId) => $"mep-{Safe(uepId, 8)}-{Safe(blockId, 32)}";

    /// <summary>
    /// scheduler_options, one #SBATCH line per non-blank line: a line that is already a directive stays as written,
    /// a bare option (<c>--constraint=knl</c>) gets the prefix. Anything else is refused rather than run as shell text.
    /// </summary>
    public static IReadOnlyList<string> SchedulerLines(string? options)
    {
        if (options is null)
        {
            return [];
        }

        var lines = new List<string>();
        var number = 0;
        foreach (var raw in options.Split('\n'))
        {
            number++;
            var line = raw.TrimEnd('\r').Trim();
            if (line.Length == 0)
            {
                continue;
            }

            if (line.Any(c => char.IsControl(c) && c != '\t'))
            {
                throw Bad("scheduler_options", $"line {number} contains a control character");
            }

            if (line.StartsWith("#SBATCH ", StringComparison.Ordinal) || line.StartsWith("#SBATCH\t", StringComparison.Ordinal))
            {
                lines.Add(line);
            }
            else if (line.StartsWith('-'))
            {
                lines.Add("#SBATCH " + line);
            }
            else
            {
                throw Bad("scheduler_options", $"line {number} must be an #SBATCH directive or an sbatch option starting with '-', got '{line}'");
            }
        }

        return lines;
    }

    private static void Directive(StringBuilder sb, string option) => sb.Append("#SBATCH ").Append(option).Append('\n');

    private static void Optional(StringBuilder sb, string prefix, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            Directive(sb, prefix + value);
        }
    }

    private static void Name(string? value, string key)
    {
        if (value is not null && !SlurmName().IsMatch(value))
        {
            throw Bad(key, $"'{value}' is not a Slurm name (letters, digits and . _ - + , only)");
        }
    }

    private static string Safe(string value, int max)
    {
        var kept = new string(value.Where(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.').ToArray());
        return kept.Length > max ? kept[..max] : kept;
    }

    private static ProviderException Bad(string key, string reason) => new($"engine.provider.{key}: {reason}");

    // Partitions may be a comma-separated list; account and QoS names are plain words.
    [GeneratedRegex(@"\A[A-Za-z0-9_][A-Za-z0-9_.+,-]*\z")]
    private static partial Regex SlurmName();

    [GeneratedRegex(@"\A[0-9][0-9:-]*\z")]
    private static partial Regex Walltime();
}
