using System.Globalization;

namespace Mep.Endpoint.Providers.Slurm;

/// <summary>Which Slurm tools to run: names looked up on PATH by default, or paths a site (or a test) sets.</summary>
internal sealed record SlurmCommandOptions
{
    public const string SbatchVariable = "MEP_SLURM_SBATCH";
    public const string SqueueVariable = "MEP_SLURM_SQUEUE";
    public const string SacctVariable = "MEP_SLURM_SACCT";
    public const string ScancelVariable = "MEP_SLURM_SCANCEL";

    public string Sbatch { get; init; } = "sbatch";
    public string Squeue { get; init; } = "squeue";

    /// <summary>Only used to learn how a job ended; a site without accounting simply gets less detail.</summary>
    public string Sacct { get; init; } = "sacct";

    public string Scancel { get; init; } = "scancel";

    public BatchCommandContext Context { get; init; } = new();

    /// <summary>The defaults, with a path per tool from <c>MEP_SLURM_SBATCH</c> etc. where the site set one.</summary>
    public static SlurmCommandOptions FromEnvironment(Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var defaults = new SlurmCommandOptions();
        return defaults with
        {
            Sbatch = NonEmpty(environment(SbatchVariable)) ?? defaults.Sbatch,
            Squeue = NonEmpty(environment(SqueueVariable)) ?? defaults.Squeue,
            Sacct = NonEmpty(environment(SacctVariable)) ?? defaults.Sacct,
            Scancel = NonEmpty(environment(ScancelVariable)) ?? defaults.Scancel,
        };
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}

/// <summary>One job as squeue or sacct reports it. <paramref name="ExitCode"/> and <paramref name="Reason"/> may be empty.</summary>
internal sealed record SlurmJobRecord(string JobId, string State, string ExitCode, string Reason);

/// <summary>
/// The Slurm command-line tools, as the provider uses them: submit a script, list jobs, ask accounting, cancel.
/// Each call is one process with an argument list; errors come back as <see cref="ProviderException"/> carrying the
/// tool's own message, which is what the user gets to see. (A PBS provider would have a PbsCommands of the same shape
/// over qsub, qstat and qdel.)
/// </summary>
internal sealed class SlurmCommands(SlurmCommandOptions options)
{
    // '|' never occurs in job ids, state names or Slurm's reason codes.
    private const char Separator = '|';

    public SlurmCommandOptions Options { get; } = options;

    /// <summary>Submits the script (given on stdin, so it is read by the submitting user's sbatch as written) and returns the job id.</summary>
    public async Task<string> SubmitAsync(string script, string workingDirectory, CancellationToken ct)
    {
        var context = Options.Context with { WorkingDirectory = workingDirectory };
        var result = await BatchCommand.RunAsync(Options.Sbatch, ["--parsable"], script, context, ct);
        if (!result.Succeeded)
        {
            throw new ProviderException(result.Message);
        }

        // --parsable prints "jobid" or "jobid;cluster".
        var jobId = result.Stdout.Trim().Split(';')[0];
        if (!IsJobId(jobId))
        {
            throw new ProviderException($"sbatch printed no job id: {result.Message}");
        }

        return jobId;
    }

    /// <summary>
    /// The jobs among <paramref name="jobIds"/> that squeue still knows, in any state (finished ones stay known for
    /// MinJobAge). A job missing from the answer has left the controller's memory.
    /// </summary>
    public async Task<IReadOnlyList<SlurmJobRecord>> QueueAsync(IReadOnlyCollection<string> jobIds, CancellationToken ct)
    {
        if (jobIds.Count == 0)
        {
            return [];
        }

        var result = await BatchCommand.RunAsync(
            Options.Squeue,
            ["--noheader", "--states=all", "--jobs=" + string.Join(',', jobIds), "--format=%i|%T|%r"],
            null, Options.Context, ct);
        if (!result.Succeeded)
        {
            // squeue refuses a list of only unknown ids instead of printing nothing.
            if (result.Stderr.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase))
            {
                return [];
            }

            throw new ProviderException($"squeue failed: {result.Message}");
        }

        return Parse(result.Stdout, 3, f => new SlurmJobRecord(f[0], f[1], "", f[2]));
    }

    /// <summary>How jobs ended, from accounting; null when sacct cannot tell (no accounting on this cluster, or it failed).</summary>
    public async Task<IReadOnlyList<SlurmJobRecord>?> AccountingAsync(IReadOnlyCollection<string> jobIds, CancellationToken ct)
    {
        if (jobIds.Count == 0)
        {
            return [];
        }

        BatchCommandResult result;
        try
        {
            result = await BatchCommand.RunAsync(
                Options.Sacct,
                ["--noheader", "--parsable2", "--allocations", "--jobs=" + string.Join(',', jobIds), "--format=JobIDRaw,State,ExitCode,Reason"],
                null, Options.Context, ct);
        }
        catch (ProviderException)
        {
            return null; // no sacct on this machine, or it hung: the queue's view has to do
        }

        return result.Succeeded ? Parse(result.Stdout, 4, f => new SlurmJobRecord(f[0], f[1], f[2], f[3])) : null;
    }

    /// <summary>Cancels the jobs. scancel accepts jobs that already ended, so this is idempotent.</summary>
    public async Task CancelAsync(IReadOnlyCollection<string> jobIds, CancellationToken ct)
    {
        if (jobIds.Count == 0)
        {
            return;
        }

        var result = await BatchCommand.RunAsync(Options.Scancel, jobIds, null, Options.Context, ct);
        if (!result.Succeeded)
        {
            throw new ProviderException($"scancel failed: {result.Message}");
        }
    }

    public static bool IsJobId(string value) =>
        value.Length is > 0 and <= 20 && value.All(char.IsAsciiDigit) && ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out _);

    private static List<SlurmJobRecord> Parse(string output, int fields, Func<string[], SlurmJobRecord> make)
    {
        var records = new List<SlurmJobRecord>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split(Separator);
            if (parts.Length == fields && IsJobId(parts[0]))
            {
                records.Add(make(parts));
            }
        }

        return records;
    }
}
