using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mep.Grains.Audit;

/// <summary>Settings of the audit log (section <c>Mep:Audit</c>).</summary>
public sealed class AuditOptions
{
    public const string Section = "Mep:Audit";

    /// <summary>The JSON-lines file (the silo defaults it to <c>audit.log</c> in its data directory).</summary>
    public string Path { get; set; } = "";

    /// <summary>The file is rotated before a write would take it past this size (default 64 MiB).</summary>
    public long MaxFileBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Rotated files kept (<c>audit.log.1</c> newest … <c>audit.log.N</c> oldest); older ones are deleted.</summary>
    public int KeepFiles { get; set; } = 10;
}

/// <summary>
/// The audit log as an append-only JSON-lines file, readable by its owner and group only (identities and account
/// names are personal data). Each line is written to the file (flushed to the kernel) before the call returns: a decision the caller has seen
/// survives a crash of the silo. (No fsync per line: a power cut may lose the last lines, as with syslog.)
/// Rotated by size under the same lock as the writes, so a line is never split between two files and none is lost:
/// the full file is renamed (it keeps its mode) while still open, and the open handle is swapped only once the new file
/// exists; if that fails, writing goes on into the renamed file.
/// Also copied to the structured log (category <c>Mep.Audit</c>) so sites that ship logs get it without tailing files;
/// task events there at Debug level only, since a busy endpoint has several per task.
/// </summary>
public sealed class AuditLogFile : IAuditLog, IDisposable
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly Lock _gate = new();
    private readonly ILogger _logger;
    private readonly long _maxBytes;
    private readonly int _keep;
    private FileStream _file;
    private long _size;

    public AuditLogFile(string path, ILoggerFactory loggers, long maxFileBytes = 64L * 1024 * 1024, int keepFiles = 10)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFileBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(keepFiles, 1);
        Path = System.IO.Path.GetFullPath(path);
        _logger = loggers.CreateLogger("Mep.Audit");
        _maxBytes = maxFileBytes;
        _keep = keepFiles;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        _file = Open(Path);
        _size = _file.Length;
    }

    public AuditLogFile(IOptions<AuditOptions> options, ILoggerFactory loggers)
        : this(options.Value.Path, loggers, options.Value.MaxFileBytes, options.Value.KeepFiles)
    {
    }

    public string Path { get; }

    /// <summary>The n-th rotated file (1 is the newest).</summary>
    public static string RotatedPath(string path, int n) => $"{path}.{n}";

    public Task WriteAsync(AuditEntry entry, CancellationToken ct = default) => WriteAsync([entry], ct);

    public Task WriteAsync(IReadOnlyList<AuditEntry> entries, CancellationToken ct = default)
    {
        if (entries.Count == 0)
        {
            return Task.CompletedTask;
        }

        var lines = new MemoryStream();
        foreach (var entry in entries)
        {
            JsonSerializer.Serialize(lines, entry, Json);
            lines.WriteByte((byte)'\n');
        }

        if (ct.IsCancellationRequested)
        {
            return Task.FromCanceled(ct);
        }

        try
        {
            Append(lines.GetBuffer().AsSpan(0, (int)lines.Length));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            // As a faulted task, the way callers have always seen a failed write.
            return Task.FromException(e);
        }

        foreach (var entry in entries)
        {
            Log(entry);
        }

        return Task.CompletedTask;
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        // A synchronous write(2) under a lock: it only copies the lines into the page cache (microseconds), whereas
        // FileStream's async path on Linux queues each write and flush to the thread pool — two thread hops per task
        // event on the busiest path of the silo (received, started, ended). Not cancellable once started: a cancelled
        // write could leave half a line for the next one to continue.
        lock (_gate)
        {
            if (_size > 0 && _size + bytes.Length > _maxBytes)
            {
                Rotate();
            }

            _file.Write(bytes);
            _size += bytes.Length;
        }
    }

    /// <summary>audit.log.(k-1) → audit.log.k, …, audit.log → audit.log.1, then a fresh audit.log. Runs under the gate.</summary>
    private void Rotate()
    {
        try
        {
            for (var n = _keep - 1; n >= 1; n--)
            {
                if (File.Exists(RotatedPath(Path, n)))
                {
                    File.Move(RotatedPath(Path, n), RotatedPath(Path, n + 1), overwrite: true);
                }
            }

            File.Move(Path, RotatedPath(Path, 1), overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Keep appending to the full file rather than lose lines; try again after another file's worth.
            _logger.LogError(e, "Cannot rotate the audit log {Path}; still writing to it", Path);
            _size = 0;
            return;
        }

        FileStream fresh;
        try
        {
            fresh = Open(Path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The open handle now writes into audit.log.1: nothing is lost, the file just grows.
            _logger.LogError(e, "Cannot open a new audit log {Path} after rotating; still writing to {Rotated}", Path, RotatedPath(Path, 1));
            _size = 0;
            return;
        }

        _file.Dispose();
        _file = fresh;
        _size = 0;
        _logger.LogInformation("Rotated the audit log {Path} (keeping {Keep} old files)", Path, _keep);
    }

    private static FileStream Open(string path)
    {
        // Unbuffered: each WriteAsync is one write(2) of whole lines.
        var open = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.Read, BufferSize = 0 };
        if (!OperatingSystem.IsWindows())
        {
            open.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;
        }

        return new FileStream(path, open);
    }

    private void Log(AuditEntry entry)
    {
        if (entry.Status is { } status)
        {
            _logger.LogInformation(
                "Audit {Decision} {Action} on {EndpointId} for {Username} ({IdentityId}) as {LocalUser}: {Status} {Reason}",
                entry.Decision, entry.Action, entry.EndpointId, entry.Username, entry.IdentityId, entry.LocalUser, status, entry.Reason);
            return;
        }

        var level = entry.Action.StartsWith("task-", StringComparison.Ordinal) ? LogLevel.Debug : LogLevel.Information;
        if (_logger.IsEnabled(level))
        {
            _logger.Log(level, "Audit {Decision} {Action} on {EndpointId} UEP {UserEndpointId} as {LocalUser}: {Entry}",
                entry.Decision, entry.Action, entry.EndpointId, entry.UserEndpointId, entry.LocalUser,
                Encoding.UTF8.GetString(JsonSerializer.SerializeToUtf8Bytes(entry, Json)));
        }
    }

    public void Dispose()
    {
        _file.Dispose();
    }
}
