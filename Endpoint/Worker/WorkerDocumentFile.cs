using System.Globalization;
using System.Text.Json;
using Mep.Protocol;
using Mep.Protocol.Messages;

namespace Mep.Endpoint.Worker;

/// <summary>A worker document that cannot be used; the message names the cause and never echoes the document.</summary>
internal sealed class WorkerDocumentException(string message) : Exception(message);

/// <summary>
/// Reads the <see cref="WorkerDocument"/> a worker is pointed at. It holds the UEP's broker password, so a file that
/// others could have read or written (not ours, group/other bits set, not a regular file) is refused outright: a
/// UEP that wrote it that way has a bug, and a file someone else planted must not steer our tasks.
/// </summary>
internal static class WorkerDocumentFile
{
    /// <summary>Far above any real document, small enough to refuse junk quickly.</summary>
    public const int MaxBytes = 1 << 20;

    /// <summary>Tasks one worker may hold at once; the broker prefetch is a 16-bit count.</summary>
    public const int MaxTasksLimit = 4096;

    public static WorkerDocument Read(string path)
    {
        byte[] bytes;
        try
        {
            if (new FileInfo(path).LinkTarget is not null)
            {
                throw new WorkerDocumentException($"worker document {path} is a symbolic link, not a regular file");
            }

            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            var (uid, mode) = Native.OwnerAndMode(handle);
            if ((mode & Native.FileTypeMask) != Native.RegularFile)
            {
                throw new WorkerDocumentException($"worker document {path} is not a regular file");
            }

            if (uid != Native.GetUid())
            {
                throw new WorkerDocumentException($"worker document {path} is owned by uid {uid}, not by this user (uid {Native.GetUid()})");
            }

            if ((mode & 0x3F) != 0)
            {
                throw new WorkerDocumentException(string.Create(CultureInfo.InvariantCulture,
                    $"worker document {path} has mode {Convert.ToString(mode & 0xFFF, 8)}; it holds credentials and must be 0600 (readable by its owner only)"));
            }

            var length = RandomAccess.GetLength(handle);
            if (length > MaxBytes)
            {
                throw new WorkerDocumentException($"worker document {path} is larger than {MaxBytes} bytes");
            }

            bytes = new byte[length];
            var read = 0;
            while (read < bytes.Length)
            {
                var n = RandomAccess.Read(handle, bytes.AsSpan(read), read);
                if (n == 0)
                {
                    break;
                }

                read += n;
            }

            bytes = bytes[..read];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new WorkerDocumentException($"cannot read worker document {path}: {e.Message}");
        }

        return Parse(bytes, path);
    }

    public static WorkerDocument Parse(ReadOnlySpan<byte> utf8, string path)
    {
        WorkerDocument doc;
        try
        {
            doc = ProtocolJson.Deserialize(utf8, EndpointJson.Files.WorkerDocument);
        }
        catch (JsonException e)
        {
            // JsonException messages name the path and position, never the values.
            throw new WorkerDocumentException($"worker document {path} is not valid: {e.Message}");
        }

        Validate(doc, path);
        return doc;
    }

    private static void Validate(WorkerDocument doc, string path)
    {
        void Require(bool condition, string message)
        {
            if (!condition)
            {
                throw new WorkerDocumentException($"worker document {path}: {message}");
            }
        }

        // The id names broker objects and files: only a UUID is acceptable.
        Require(Guid.TryParseExact(doc.UepId, "D", out _), "uep_id is not a UUID");
        var b = doc.Broker;
        Require(!string.IsNullOrWhiteSpace(b.Host), "broker.host is empty");
        Require(b.Port is > 0 and <= 65535, "broker.port is out of range");
        Require(!string.IsNullOrEmpty(b.VirtualHost), "broker.virtual_host is empty");
        Require(!string.IsNullOrEmpty(b.Username), "broker.username is empty");
        Require(!string.IsNullOrEmpty(b.Password), "broker.password is empty");
        Require(b.TaskQueue == BrokerNames.TaskQueue(doc.UepId), $"broker.task_queue is not {BrokerNames.TaskQueue(doc.UepId)}");
        Require(!string.IsNullOrEmpty(b.EventsExchange), "broker.events_exchange is empty");
        Require(!string.IsNullOrEmpty(b.EventsRoutingKey), "broker.events_routing_key is empty");
        Require(doc.MaxTasks is >= 1 and <= MaxTasksLimit, $"max_tasks must be between 1 and {MaxTasksLimit}");
        Require(doc.Limits.ResultSizeLimitBytes > 0, "limits.result_size_limit_bytes must be positive");
        Require(doc.Limits.OutputLines >= 0, "limits.output_lines must not be negative");
        Require(doc.Limits.MaxWorkerDeaths >= 1, "limits.max_worker_deaths must be at least 1");
        Require(Path.IsPathFullyQualified(doc.RunDirectory), "run_directory is not an absolute path");
        Require(Directory.Exists(doc.RunDirectory), $"run_directory {doc.RunDirectory} does not exist");
        Require(IsPeriod(doc.HeartbeatPeriodSeconds), "heartbeat_period_seconds must be a positive number of seconds up to a week");
        Require(IsPeriod(doc.ManagerTimeoutSeconds), "manager_timeout_seconds must be a positive number of seconds up to a week");
    }

    private static bool IsPeriod(double seconds) => double.IsFinite(seconds) && seconds > 0 && seconds <= 7 * 86400;
}
