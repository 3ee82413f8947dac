using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mep.Launcher;

/// <summary>
/// Applies the start rules to running UEPs too: every <see cref="LauncherOptions.AccountCheckInterval"/> the account of
/// each child is validated again as a new start would be, and a UEP whose account was deleted, replaced under another
/// uid, expired (usermod -e / chage -E), denied, or locked (with RefuseLockedPasswords) is stopped by the launcher
/// itself. The launcher does it, not the silo: only root can read the shadow file, and an account that may not log in
/// must not keep a process running because the silo is down.
/// </summary>
public sealed class AccountSweep(
    ChildSupervisor supervisor,
    RequestValidator validator,
    IOptions<LauncherOptions> options,
    ILogger<AccountSweep> logger,
    TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.AccountCheckInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                Sweep();
            }
        }
        catch (OperationCanceledException)
        {
            // The launcher is stopping.
        }
    }

    internal void Sweep()
    {
        foreach (var child in supervisor.List())
        {
            string? reason;
            try
            {
                var user = validator.ValidateUser(child.Username);
                reason = user.Uid == child.Uid ? null
                    : $"the account of user '{child.Username}' was replaced (uid {child.Uid}, now {user.Uid})";
            }
            catch (RequestRefusedException e)
            {
                reason = e.Message;
            }

            if (reason is not null && supervisor.Revoke(child.UepId, child.Pid, reason, options.Value.AccountStopGracePeriod))
            {
                logger.LogWarning("Stopping UEP {UepId} ({Username}, pid {ChildPid}): {Reason}", child.UepId, child.Username, child.Pid, reason);
            }
        }
    }
}
