using Microsoft.Extensions.DependencyInjection;

namespace Mep.Grains.Audit;

public static class AuditServices
{
    /// <summary>The audit log as a JSON-lines file, rotated by size (one per silo: two silos must not share a path).</summary>
    public static IServiceCollection AddMepAuditLog(this IServiceCollection services, Action<AuditOptions> configure)
    {
        services.AddOptions<AuditOptions>()
            .Configure(configure)
            .Validate(o => !string.IsNullOrWhiteSpace(o.Path), $"{AuditOptions.Section}:Path is required")
            .Validate(o => o.MaxFileBytes >= 1, $"{AuditOptions.Section}:MaxFileBytes must be positive")
            .Validate(o => o.KeepFiles >= 1, $"{AuditOptions.Section}:KeepFiles must be at least 1")
            .ValidateOnStart();
        services.AddSingleton<AuditLogFile>();
        services.AddSingleton<IAuditLog>(sp => sp.GetRequiredService<AuditLogFile>());
        return services;
    }
}
