using Mep.Grains.Launching;
using Mep.Grains.UserEndpoints;
using Mep.Protocol.Launcher;

namespace Mep.Silo.Services;

/// <summary>The launcher as a user endpoint grain sees it: a refusal is final, an unreachable launcher is retried.</summary>
public sealed class UserEndpointLauncher : IUserEndpointLauncher
{
    public async Task<LaunchedUep> StartAsync(
        string socket, string uepId, string username, string startDocument, UepResourceLimits? limits, string? pamService, CancellationToken ct)
    {
        try
        {
            var answer = await new LauncherClient(socket).StartAsync(uepId, username, startDocument, limits, pamService, ct);
            return new LaunchedUep(answer.Pid!.Value, answer.ResourceControl);
        }
        catch (LauncherException e) when (!e.Unavailable)
        {
            throw new LaunchRefusedException(e.Message);
        }
    }

    public Task StopAsync(string socket, string uepId, bool kill, CancellationToken ct) =>
        new LauncherClient(socket).StopAsync(uepId, kill ? "kill" : "term", ct);

    public Task<IReadOnlyList<LauncherChild>> ListAsync(string socket, CancellationToken ct) =>
        new LauncherClient(socket).ListAsync(ct);
}
