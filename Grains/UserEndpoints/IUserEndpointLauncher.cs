using Mep.Protocol.Launcher;

namespace Mep.Grains.UserEndpoints;

/// <summary>What a user endpoint grain needs of the privileged launcher on a node.</summary>
public interface IUserEndpointLauncher
{
    /// <summary>Starts the UEP process as <paramref name="username"/> with the endpoint's resource limits (null: the
    /// launcher's maxima), through the PAM service <paramref name="pamService"/> when not null (endpoint config
    /// <c>pam:</c>); returns its pid and how the launcher contains it.</summary>
    /// <exception cref="LaunchRefusedException">The launcher refused the request (a final answer).</exception>
    Task<LaunchedUep> StartAsync(
        string socket, string uepId, string username, string startDocument, UepResourceLimits? limits, string? pamService, CancellationToken ct);

    Task StopAsync(string socket, string uepId, bool kill, CancellationToken ct);

    Task<IReadOnlyList<LauncherChild>> ListAsync(string socket, CancellationToken ct);
}

/// <summary>A UEP process the launcher started (or found running).</summary>
/// <param name="ResourceControl">The launcher's description of its cgroup(s), or why it has none.</param>
public sealed record LaunchedUep(int Pid, string? ResourceControl);

/// <summary>The launcher answered and said no (as opposed to being unreachable, which is worth retrying).</summary>
public sealed class LaunchRefusedException(string message) : Exception(message);
