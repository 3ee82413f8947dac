namespace Mep.Grains.Audit;

/// <summary>Where audited facts go. A decision is written before the caller hears it.</summary>
public interface IAuditLog
{
    Task WriteAsync(AuditEntry entry, CancellationToken ct = default);

    /// <summary>Several entries in one write (e.g. each task of a submit): whole lines, together, in this order.</summary>
    Task WriteAsync(IReadOnlyList<AuditEntry> entries, CancellationToken ct = default);
}
