using Mep.Contracts.Model;
using Mep.Identity;
using Microsoft.Extensions.Logging;

namespace Mep.Grains.UserEndpoints;

/// <summary>
/// The UEP's local account must still be there: a deleted account (or one deleted and made again under the same name,
/// which is someone else) gets no new start, and its running UEP is stopped. Checked with getpwnam on this node at each
/// start, heartbeat and dispatch round of a live process: a lookup in the node's user database, cheap at that rate.
/// </summary>
public sealed partial class UserEndpointGrain
{
    /// <summary>Why the account this UEP runs as cannot be used any more; null while it can.</summary>
    private string? AccountGone(UserEndpointSpec spec)
    {
        var account = LocalAccounts.Find(spec.LocalUsername);
        return account is null
            ? $"local account '{spec.LocalUsername}' no longer exists on this node"
            : S.Uid is { } uid && account.Uid != uid
                ? $"local account '{spec.LocalUsername}' was replaced (uid {uid}, now {account.Uid})"
                : null;
    }

    /// <summary>
    /// For a live process: if its account is gone, its tasks fail with the reason and the process is stopped (SIGTERM,
    /// SIGKILL after the grace period); the UEP then ends failed.
    /// </summary>
    /// <returns>True when the UEP is being stopped for that.</returns>
    private async Task<bool> StopIfAccountGoneAsync()
    {
        if (S.Spec is not { } spec || !HasProcess() || S.StopRequest?.FailWith is not null)
        {
            return false;
        }

        var now = DateTimeOffset.UtcNow;
        if (AccountGone(spec) is not { } reason)
        {
            return false;
        }

        LogAccountGone(_logger, UepId, reason);
        S.Held = true;
        await FailPendingAsync(reason);
        await RevokeAsync(deleteQueue: true);
        await TerminateAsync(new StopRequest("MEP", now, reason), $"{reason}; stopping");
        return true;
    }

    /// <summary>
    /// The launcher stopped the process because its account may no longer run one (expired, locked, denied, deleted):
    /// a restart would be refused for the same reason, so the UEP fails now with its tasks, with that reason.
    /// </summary>
    private async Task HandleRevokedAsync(int exitCode, string reason)
    {
        _gate.Leave(UepId);
        await AuditUepExitAsync(exitCode, stderrTail: null, StartRetry.None, reason); // audit trail
        S.ProcessStartedAt = null;
        LeftByProcess(DateTimeOffset.UtcNow);
        LogAccountGone(_logger, UepId, reason);
        await FailAllAsync(reason);
    }

    [LoggerMessage(EventId = 4012, Level = LogLevel.Warning,
        Message = "User endpoint {UepId}: {Reason}; failing its tasks and stopping it")]
    private static partial void LogAccountGone(ILogger logger, string uepId, string reason);
}
