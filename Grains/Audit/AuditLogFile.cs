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
}

/// <summary>
/// The audit log as an append-only JSON-lines file, readable by its owner and group only (identities and account
/// names are personal data). Each line is written to the file (flushed to the kernel) before the call returns: a decision the caller has seen
/// survives a crash of the silo. (No fsync per line: a power cut may lose the last lines, as with syslog.)
/// Also copied to the structured log (category <c>Mep.Audit</c>) so sites that ship logs get it without tailing files.
/// </summary>
public sealed class AuditLogFile : IAuditLog, IDisposable
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly FileStream _file;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ILogger _logger;

    public AuditLogFile(string path, ILoggerFactory loggers)
    {
        Path = System.IO.Path.GetFullPath(path);
        _logger = loggers.CreateLogger("Mep.Audit");
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        var open = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.Read };
        if (!OperatingSystem.IsWindows())
        {
            open.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;
        }

        _file = new FileStream(Path, open);
    }

    public AuditLogFile(IOptions<AuditOptions> options, ILoggerFactory loggers)
        : this(options.Value.Path, loggers)
    {
    }

    public string Path { get; }

    public async Task WriteAsync(AuditEntry entry, CancellationToken ct = default)
    {
        var line = JsonSerializer.SerializeToUtf8Bytes(entry, Json);
        await _gate.WaitAsync(ct);
        try
        {
            await _file.WriteAsync(line, ct);
            await _file.WriteAsync("\n"u8.ToArray(), ct);
            await _file.FlushAsync(ct);
        }
        finally
        {
            _gate.Release();
        }

        _logger.LogInformation(
            "Audit {Decision} {Action} on {EndpointId} for {Username} ({IdentityId}) as {LocalUser}: {Status} {Reason}",
            entry.Decision, entry.Action, entry.EndpointId, entry.Username, entry.IdentityId, entry.LocalUser, entry.Status, entry.Reason);
    }

    public void Dispose()
    {
        _file.Dispose();
        _gate.Dispose();
    }
}
