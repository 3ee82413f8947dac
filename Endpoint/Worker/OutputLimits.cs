using System.Globalization;
using System.Text;
using Mep.Protocol.Launcher;
using Mep.Protocol.Messages;

namespace Mep.Endpoint.Worker;

/// <summary>The admin's limits on what a task sends back: the last lines of its output, and a result size cap.</summary>
internal static class OutputLimits
{
    /// <summary>The last <paramref name="lines"/> lines of <paramref name="text"/> (a final line without a newline counts).</summary>
    public static string LastLines(string text, int lines, out bool cut)
    {
        cut = false;
        if (text.Length == 0)
        {
            return text;
        }

        if (lines <= 0)
        {
            cut = true;
            return "";
        }

        // Scan back from before a final newline: that newline ends the last line rather than starting a new one.
        var end = text[^1] == '\n' ? text.Length - 1 : text.Length;
        var seen = 0;
        for (var i = end - 1; i >= 0; i--)
        {
            if (text[i] == '\n' && ++seen == lines)
            {
                cut = true;
                return text[(i + 1)..];
            }
        }

        return text;
    }

    public static string TooLarge(long size, long limit) =>
        string.Create(CultureInfo.InvariantCulture, $"result of {size} bytes exceeds the endpoint's limit of {limit} bytes");

    /// <summary>
    /// Keeps the last lines of stdout and stderr, then fails the task if what is left (with a Python return value and
    /// exception) is larger than the limit; the failed result carries the reason instead of the oversized parts.
    /// </summary>
    public static TaskResultMessage Apply(TaskResultMessage result, TaskLimits limits)
    {
        var stdout = LastLines(result.Stdout, limits.OutputLines, out var cutOut);
        var stderr = LastLines(result.Stderr, limits.OutputLines, out var cutErr);
        result = result with { Stdout = stdout, Stderr = stderr, OutputTruncated = result.OutputTruncated || cutOut || cutErr };
        long size = Encoding.UTF8.GetByteCount(stdout) + Encoding.UTF8.GetByteCount(stderr)
                    + (result.ReturnValue is null ? 0 : Encoding.UTF8.GetByteCount(result.ReturnValue))
                    + (result.Exception is null ? 0 : Encoding.UTF8.GetByteCount(result.Exception.Message) + Encoding.UTF8.GetByteCount(result.Exception.Traceback));
        if (size <= limits.ResultSizeLimitBytes)
        {
            return result;
        }

        return result with
        {
            State = TaskState.Failed,
            Stdout = "",
            Stderr = "",
            OutputTruncated = true,
            ReturnValue = null,
            Exception = null,
            Error = TooLarge(size, limits.ResultSizeLimitBytes),
        };
    }
}
