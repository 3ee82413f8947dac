namespace Mep.Grains.Audit;

/// <summary>Where access decisions go. A decision is written before the caller hears it.</summary>
public interface IAuditLog
{
    Task WriteAsync(AuditEntry entry, CancellationToken ct = default);
}
