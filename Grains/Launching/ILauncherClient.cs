using Mep.Protocol.Launcher;

namespace Mep.Grains.Launching;

/// <summary>What the silo asks of the privileged launcher. See <see cref="LauncherClient"/>.</summary>
public interface ILauncherClient
{
    /// <summary>Starts the UEP as <paramref name="username"/> with <paramref name="stdin"/> as its start document.
    /// Idempotent: starting an id that already runs as the same user returns the running pid.</summary>
    Task<int> StartAsync(string uepId, string username, string stdin, CancellationToken cancellationToken);

    /// <summary>As <see cref="StartAsync(string, string, string, CancellationToken)"/>, with resource limits for the
    /// UEP (null: the launcher's maxima) and the PAM service to go through (null: none asked; the launcher decides
    /// whether it is allowed, and may require PAM anyway); returns the launcher's whole answer (pid, resource control).</summary>
    Task<LauncherResponse> StartAsync(
        string uepId, string username, string stdin, UepResourceLimits? limits, string? pamService, CancellationToken cancellationToken);

    /// <summary>Signals the UEP ("term" or "kill"); its exit arrives through <see cref="WatchAsync"/>.</summary>
    Task<int> StopAsync(string uepId, string signal, CancellationToken cancellationToken);

    Task<IReadOnlyList<LauncherChild>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Exit events from the moment the launcher acknowledged the watch, until cancelled.
    /// Throws <see cref="LauncherException"/> if the launcher goes away: exits while nobody watched are lost,
    /// so after reconnecting compare <see cref="ListAsync"/> with what is expected to run.</summary>
    IAsyncEnumerable<LauncherEvent> WatchAsync(CancellationToken cancellationToken);

    /// <summary>Like <see cref="WatchAsync"/>, but returns only once the launcher acknowledged the watch, so that
    /// no exit after this call returns can be missed (open the watch, then list, to reconcile).</summary>
    Task<LauncherWatch> OpenWatchAsync(CancellationToken cancellationToken);
}
