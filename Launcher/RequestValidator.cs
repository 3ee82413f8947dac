using System.Text;
using System.Text.RegularExpressions;
using Mep.Protocol.Launcher;
using Microsoft.Extensions.Options;

namespace Mep.Launcher;

/// <summary>A request the launcher refuses; the message is the one line sent back to the client.</summary>
public sealed class RequestRefusedException(string message) : Exception(message);

/// <summary>A start request that passed every check.</summary>
/// <param name="PamService">The PAM service the start goes through (set by <see cref="Pam.PamPolicy"/>), or null.</param>
public sealed record StartCommand(string UepId, UnixUser User, string Stdin, ResourceLimits Limits, string? PamService = null);

/// <summary>The rlimits to set (soft = hard) before the UEP runs, null leaving the launcher's own; and the cgroup limits
/// of its tree, null for none.</summary>
public sealed record ResourceLimits(long? Processes, long? OpenFiles, long? AddressSpaceBytes, long? MemoryMaxBytes = null, long? PidsMax = null)
{
    public static readonly ResourceLimits None = new(null, null, null);
}

/// <summary>A stop request that passed every check.</summary>
public sealed record StopCommand(string UepId, int Signal, string SignalName);

/// <summary>
/// Checks every request again, whatever the silo already checked: the silo is less trusted than root.
/// </summary>
public sealed partial class RequestValidator(LauncherOptions options, LauncherIdentity identity)
{
    public RequestValidator(IOptions<LauncherOptions> options, LauncherIdentity identity)
        : this(options.Value, identity)
    {
    }

    [GeneratedRegex(@"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\z")]
    private static partial Regex CanonicalUuid(); // \A and \z: "$" would also match before a final newline

    // POSIX portable characters; starting with a letter or '_' rules out "-opt", ".", ".." and all-digit names
    // that tools could take for a uid.
    [GeneratedRegex(@"\A[A-Za-z_][A-Za-z0-9._-]{0,31}\z")]
    private static partial Regex PortableUsername();

    public static bool IsCanonicalUuid(string? value) => value is not null && CanonicalUuid().IsMatch(value);

    public static bool IsValidUsername(string? value) => value is not null && PortableUsername().IsMatch(value);

    public StartCommand ValidateStart(LauncherRequest request)
    {
        RefuseField(request.Signal, "signal", request.Op);
        var uepId = ValidateUepId(request.UepId);
        var user = ValidateUser(request.Username);
        if (request.Stdin is null)
        {
            throw new RequestRefusedException("stdin document is required for start");
        }

        var size = Encoding.UTF8.GetByteCount(request.Stdin);
        if (size > options.MaxStdinBytes)
        {
            throw new RequestRefusedException($"stdin document is {size} bytes; the limit is {options.MaxStdinBytes}");
        }

        return new StartCommand(uepId, user, request.Stdin, ValidateLimits(request.Limits));
    }

    public StopCommand ValidateStop(LauncherRequest request)
    {
        RefuseField(request.Limits, "limits", request.Op);
        RefuseField(request.Username, "username", request.Op);
        RefuseField(request.Stdin, "stdin", request.Op);
        RefuseField(request.Pam, "pam", request.Op);
        var uepId = ValidateUepId(request.UepId);
        return request.Signal switch
        {
            null or "term" => new StopCommand(uepId, Native.SigTerm, "term"),
            "kill" => new StopCommand(uepId, Native.SigKill, "kill"),
            _ => throw new RequestRefusedException($"signal {Quote(request.Signal)} is not 'term' or 'kill'"),
        };
    }

    /// <summary>List and watch take no arguments.</summary>
    public void ValidateNoArguments(LauncherRequest request)
    {
        RefuseField(request.UepId, "uep_id", request.Op);
        RefuseField(request.Username, "username", request.Op);
        RefuseField(request.Stdin, "stdin", request.Op);
        RefuseField(request.Signal, "signal", request.Op);
        RefuseField(request.Limits, "limits", request.Op);
        RefuseField(request.Pam, "pam", request.Op);
    }

    public static string ValidateUepId(string? uepId)
    {
        if (uepId is null)
        {
            throw new RequestRefusedException("uep_id is required");
        }

        return IsCanonicalUuid(uepId)
            ? uepId
            : throw new RequestRefusedException($"uep_id {Quote(uepId)} is not a canonical lower-case UUID");
    }

    /// <summary>Resolves the account ourselves and applies every rule about who may run a UEP.</summary>
    public UnixUser ValidateUser(string? username)
    {
        if (username is null)
        {
            throw new RequestRefusedException("username is required for start");
        }

        if (!IsValidUsername(username))
        {
            throw new RequestRefusedException($"username {Quote(username)} is not a valid POSIX username");
        }

        if (!identity.IsRoot && username != identity.Self.Name)
        {
            throw new RequestRefusedException(
                $"this personal launcher runs endpoints only for user '{identity.Self.Name}', not '{username}'");
        }

        if (options.DeniedUsers.Contains(username, StringComparer.Ordinal))
        {
            throw new RequestRefusedException($"user '{username}' is denied by the launcher configuration");
        }

        if (options.AllowedUsers.Count > 0 && !options.AllowedUsers.Contains(username, StringComparer.Ordinal))
        {
            throw new RequestRefusedException($"user '{username}' is not in the launcher's allowed users");
        }

        var user = Native.GetUserByName(username)
            ?? throw new RequestRefusedException($"user '{username}' does not exist");
        if (user.Uid == 0)
        {
            throw new RequestRefusedException($"user '{username}' has uid 0; the launcher never starts anything as root");
        }

        if (user.Uid < options.MinUid)
        {
            throw new RequestRefusedException($"user '{username}' (uid {user.Uid}) is below the minimum uid {options.MinUid}");
        }

        if (user.Uid > options.MaxUid)
        {
            throw new RequestRefusedException($"user '{username}' (uid {user.Uid}) is above the maximum uid {options.MaxUid}");
        }

        if (user.Gid == 0)
        {
            throw new RequestRefusedException($"user '{username}' has primary group 0 (root)");
        }

        if (!System.IO.Path.IsPathFullyQualified(user.Home))
        {
            throw new RequestRefusedException($"user '{username}' has no absolute home directory");
        }

        CheckAccountStatus(username);

        return user;
    }

    // As login's account check (pam_unix) does: expired from the expiry day on. Only root can read the shadow file;
    // a personal launcher is the user already. Accounts without a shadow entry (directory services) pass.
    private void CheckAccountStatus(string username)
    {
        if (!identity.IsRoot || Native.GetShadowEntry(username) is not { } shadow)
        {
            return;
        }

        var today = DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 86400;
        if (shadow.ExpireDay is { } expiry && today >= expiry)
        {
            var day = DateOnly.FromDayNumber(DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber + (int)Math.Min(expiry, 2_000_000));
            throw new RequestRefusedException($"the account of user '{username}' expired on {day:yyyy-MM-dd}");
        }

        if (options.RefuseLockedPasswords && shadow.PasswordLocked)
        {
            throw new RequestRefusedException($"user '{username}' is locked (its shadow password field starts with '!')");
        }
    }

    /// <summary>Each limit at most the configured maximum; one not asked for is the maximum.</summary>
    public ResourceLimits ValidateLimits(UepResourceLimits? limits) => new(
        Limit(limits?.Processes, options.MaxProcesses, "processes"),
        Limit(limits?.OpenFiles, options.MaxOpenFiles, "open_files"),
        Limit(limits?.AddressSpaceBytes, options.MaxAddressSpaceBytes, "address_space_bytes"),
        Limit(limits?.MemoryMaxBytes, options.MaxMemoryBytes, "memory_max_bytes"),
        Limit(limits?.PidsMax, options.MaxPids, "pids_max"));

    private static long? Limit(long? asked, long? maximum, string name)
    {
        if (asked is < 1)
        {
            throw new RequestRefusedException($"limits.{name} must be positive");
        }

        if (asked > maximum)
        {
            throw new RequestRefusedException($"limits.{name} {asked} is above the launcher's maximum {maximum}");
        }

        return asked ?? maximum;
    }

    private static void RefuseField(object? value, string field, LauncherOp op)
    {
        if (value is not null)
        {
            throw new RequestRefusedException($"field '{field}' is not allowed for op '{op.ToString().ToLowerInvariant()}'");
        }
    }

    /// <summary>Echoes untrusted text into an error line: short, quoted, no control characters.</summary>
    public static string Quote(string value)
    {
        var shown = value.Length > 64 ? value[..64] + "..." : value;
        var builder = new StringBuilder(shown.Length + 2).Append('\'');
        foreach (var c in shown)
        {
            builder.Append(char.IsControl(c) ? '?' : c);
        }

        return builder.Append('\'').ToString();
    }
}
