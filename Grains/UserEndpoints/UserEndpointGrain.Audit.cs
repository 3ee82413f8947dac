using System.Security.Cryptography;
using System.Text;
using Mep.Contracts.Model;
using Mep.Grains.Audit;
using Mep.Identity;
using Microsoft.Extensions.Logging;

namespace Mep.Grains.UserEndpoints;

/// <summary>
/// The audit trail of a user endpoint: its process starting (or the launcher refusing it) and exiting, and its tasks
/// received, started and ended, each a line of the audit log naming the local account and uid.
/// </summary>
/// <remarks>
/// These are records of what happened, not decisions a caller waits on: a failing audit write is logged as an error and
/// does not undo or stall the lifecycle step (which would make a full disk stop every UEP, and would have a stream
/// event redelivered forever). Received tasks of one submit go out as one write; the starts and ends reported by one
/// batch of events go out as one write at the end of the batch.
/// </remarks>
public sealed partial class UserEndpointGrain
{
    private (string User, long? Uid)? _auditAccount;

    // Starts seen in the batch of events being handled: written ahead of the next entries, at the latest as the batch
    // ends (a short task's start comes with its result, so a line of its own would be a write per task).
    private readonly List<AuditEntry> _stagedStarts = [];

    /// <param name="node">The login node whose launcher started (or refused) the process: pids are per node.</param>
    /// <param name="resourceControl">The launcher's account of the UEP's cgroups (or of why there are none).</param>
    private async Task AuditUepStartAsync(UserEndpointSpec spec, string node, int? pid, string? refusal, string? resourceControl = null)
    {
        await AuditAsync([Entry(
            AuditActions.UepStart,
            refusal is null ? AuditEntry.Allowed : AuditEntry.Refused,
            refusal,
            pid) with
        {
            Node = node,
            ConfigHash = ConfigHash(spec.RenderedConfigJson),
            Attempt = S.FailedStarts + 1,
            ResourceControl = resourceControl,
        }]);
    }

    /// <summary>Called as the exit is handled, before the phase changes: the reason is the one the process gave when it
    /// said it was stopping (idle, stop requested), else what the exit status says, followed by what the exit decided
    /// for a failed start (the next attempt and when, or giving up).</summary>
    private async Task AuditUepExitAsync(int? exitCode, string? stderrTail, StartRetry retry, string? stoppedBecause = null)
    {
        var signal = exitCode is > 128 and < 128 + 65 ? exitCode - 128 : null;
        var reason = stoppedBecause is not null ? stoppedBecause
            : S.Phase == UserEndpointPhase.Stopping && S.Reason is { } said ? said
            : exitCode is null ? "no longer running when the silo looked (its exit was not seen)"
            : signal is { } n ? $"killed by signal {n}"
            : exitCode == 0 ? "exited"
            : $"exited with code {exitCode}{Tail(stderrTail)}";
        reason += retry switch
        {
            { FailedStarts: 0 } => "",
            { NextAttemptAt: { } next } => FormattableString.Invariant(
                $"; start attempt {retry.FailedStarts} of {retry.MaxAttempts} failed, next attempt in {(next - DateTimeOffset.UtcNow).TotalSeconds:0.#} s"),
            _ => $"; start attempt {retry.FailedStarts} of {retry.MaxAttempts} failed, giving up: the user endpoint and its tasks fail",
        };
        await AuditAsync([Entry(AuditActions.UepExit, AuditEntry.Recorded, reason, S.Pid) with
        {
            Node = ProcessNode(),
            ExitCode = exitCode,
            Signal = signal,
            Attempt = retry.FailedStarts > 0 ? retry.FailedStarts : null,
            NextAttemptAt = retry.NextAttemptAt,
        }]);
    }

    private async Task AuditTasksReceivedAsync(IEnumerable<QueuedTask> tasks)
    {
        await AuditAsync(tasks
            .Select(t => Entry(AuditActions.TaskReceived, AuditEntry.Recorded, null, S.Pid) with { TaskId = t.TaskId, FunctionId = t.FunctionId })
            .ToList());
    }

    /// <summary>Staged: written with the next entries, or by <see cref="FlushStagedStartsAsync"/> as the event batch ends.</summary>
    private void StageTaskStartedAudit(PendingTask pending, Protocol.Messages.TaskStartedMessage started)
    {
        _stagedStarts.Add(Entry(AuditActions.TaskStarted, AuditEntry.Recorded, null, S.Pid) with
        {
            TaskId = pending.Task.TaskId,
            FunctionId = pending.Task.FunctionId,
            Host = started.Hostname,
            WorkerId = started.WorkerId,
            JobId = started.JobId,
            Attempt = started.Attempt,
        });
    }

    private Task FlushStagedStartsAsync() => _stagedStarts.Count == 0 ? Task.CompletedTask : AuditAsync([]);

    /// <summary>Tasks that ended: with a worker's result (its uid, host and return code), or failed by the grain
    /// (the UEP could not start, its function is gone).</summary>
    private Task AuditTasksEndedAsync(IEnumerable<PendingTask> ended, TaskOutcome outcome) =>
        AuditTasksEndedAsync(ended.Select(p => (p, outcome)));

    /// <summary>Tasks that ended, each with its own outcome, in one write of the audit log.</summary>
    private async Task AuditTasksEndedAsync(IEnumerable<(PendingTask Pending, TaskOutcome Outcome)> ended)
    {
        await AuditAsync(ended.Select(e => (p: e.Pending, outcome: e.Outcome)).Select(e => Entry(AuditActions.TaskEnded, AuditEntry.Recorded, e.outcome.Error, S.Pid) with
        {
            TaskId = e.p.Task.TaskId,
            FunctionId = e.p.Task.FunctionId,
            Uid = e.outcome.Uid ?? Account().Uid,
            Host = e.outcome.Hostname,
            WorkerId = e.p.Placement?.WorkerId,
            JobId = e.p.Placement?.JobId,
            Attempt = e.p.Placement?.Attempt,
            ExitCode = e.outcome.ReturnCode,
            State = e.outcome.State == TaskOutcomeState.Success ? "success" : "failed",
        }).ToList());
    }

    private AuditEntry Entry(string action, string decision, string? reason, int? pid)
    {
        var (user, uid) = Account();
        return new AuditEntry(
            DateTimeOffset.UtcNow, S.Spec?.EndpointId ?? "", action, decision, null, reason, S.Spec?.IdentityId ?? "", null, null,
            LocalUser: user, UserEndpointId: UepId, Uid: uid, Pid: pid);
    }

    /// <summary>The local account and its uid, looked up once per activation and again if the spec names another.</summary>
    private (string User, long? Uid) Account()
    {
        var user = S.Spec?.LocalUsername ?? "";
        if (_auditAccount is not { } known || known.User != user)
        {
            long? uid = null;
            try
            {
                uid = LocalAccounts.Find(user)?.Uid;
            }
            catch (InvalidOperationException e)
            {
                _logger.LogWarning(e, "Cannot look up the uid of {User} for the audit log", user);
            }

            known = (user, uid);
            _auditAccount = known;
        }

        return known;
    }

    private async Task AuditAsync(IReadOnlyList<AuditEntry> entries)
    {
        if (_stagedStarts.Count > 0)
        {
            // Starts first: they happened before whatever is written now.
            entries = [.. _stagedStarts, .. entries];
            _stagedStarts.Clear();
        }

        try
        {
            await _audit.WriteAsync(entries);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "AUDIT write failed for {Count} {Action} entries of user endpoint {UepId}",
                entries.Count, entries.Count > 0 ? entries[0].Action : "", UepId);
        }
    }

    private static string ConfigHash(string renderedConfigJson) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(renderedConfigJson)));

    private static string Tail(string? stderrTail)
    {
        if (string.IsNullOrWhiteSpace(stderrTail))
        {
            return "";
        }

        var last = stderrTail.Trim().Split('\n')[^1].Trim();
        return $": {(last.Length > 300 ? last[..300] + "…" : last)}";
    }
}
