using System.Globalization;

namespace Mep.Endpoint.Worker;

/// <summary>Bad usage of <c>mep-endpoint worker</c>; the message is the one line printed.</summary>
internal sealed class WorkerUsageException(string message) : Exception(message);

/// <summary>
/// <c>mep-endpoint worker --document PATH --block BLOCK_ID</c>. Strict: every option exactly once, nothing else. The
/// document is named by path only; its contents (the broker password) never appear on the command line.
/// </summary>
internal sealed record WorkerCommandLine(string DocumentPath, string BlockId)
{
    public const string Usage = "usage: mep-endpoint worker --document PATH --block BLOCK_ID";

    public static WorkerCommandLine Parse(IReadOnlyList<string> args)
    {
        string? document = null;
        string? block = null;
        for (var i = 0; i < args.Count; i++)
        {
            var option = args[i];
            switch (option)
            {
                case "--document":
                    document = Value(args, ref i, option, document);
                    break;
                case "--block":
                    block = Value(args, ref i, option, block);
                    break;
                default:
                    throw new WorkerUsageException($"mep-endpoint worker: unknown argument '{option}' ({Usage})");
            }
        }

        if (document is null)
        {
            throw new WorkerUsageException($"mep-endpoint worker: option --document is required ({Usage})");
        }

        if (block is null)
        {
            throw new WorkerUsageException($"mep-endpoint worker: option --block is required ({Usage})");
        }

        if (!IsValidBlockId(block))
        {
            throw new WorkerUsageException("mep-endpoint worker: option --block must be 1-64 characters of A-Z a-z 0-9 . _ - not starting with '.' or '-'");
        }

        return new WorkerCommandLine(document, block);
    }

    /// <summary>The block id names the worker's status file: no path separators, nothing hidden.</summary>
    public static bool IsValidBlockId(string id) =>
        id.Length is >= 1 and <= 64 && id[0] is not ('.' or '-') && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    private static string Value(IReadOnlyList<string> args, ref int i, string option, string? previous)
    {
        if (previous is not null)
        {
            throw new WorkerUsageException($"mep-endpoint worker: option {option} is given twice");
        }

        if (i + 1 >= args.Count || args[i + 1].Length == 0)
        {
            throw new WorkerUsageException($"mep-endpoint worker: option {option} needs a value");
        }

        return args[++i];
    }
}

/// <summary>Where this worker runs: its id within the UEP and the batch job around it.</summary>
/// <param name="WorkerId"><c>{block}.{node index}</c>: one worker per node of a block.</param>
/// <param name="JobId">The Slurm job id; null outside a batch job (local provider).</param>
internal sealed record WorkerPlacement(string BlockId, string WorkerId, string? JobId)
{
    public static WorkerPlacement FromEnvironment(string blockId, Func<string, string?> environment)
    {
        var node = 0;
        foreach (var name in new[] { "SLURM_NODEID", "SLURM_PROCID" })
        {
            if (int.TryParse(environment(name), NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                node = index;
                break;
            }
        }

        var job = environment("SLURM_JOB_ID");
        return new WorkerPlacement(blockId, string.Create(CultureInfo.InvariantCulture, $"{blockId}.{node}"),
            string.IsNullOrWhiteSpace(job) ? null : job.Trim());
    }
}
