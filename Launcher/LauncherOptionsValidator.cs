using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Mep.Launcher;

/// <summary>Checks the administrator's configuration before the launcher listens.</summary>
public sealed partial class LauncherOptionsValidator : IValidateOptions<LauncherOptions>
{
    // Variables the launcher sets itself for every UEP; the admin's Environment may not override them.
    public static readonly IReadOnlySet<string> ReservedVariables =
        new HashSet<string>(["HOME", "USER", "LOGNAME", "SHELL", "PATH", "MEP_UEP_ID"], StringComparer.Ordinal);

    private const int MaxSocketPathBytes = 107; // sun_path is 108 bytes with the terminating NUL

    [GeneratedRegex(@"\A[A-Za-z_][A-Za-z0-9_]*\z")]
    private static partial Regex VariableName();

    public ValidateOptionsResult Validate(string? name, LauncherOptions options)
    {
        var failures = new List<string>();
        var isRoot = Native.GetEuid() == 0;

        if (!Path.IsPathFullyQualified(options.SocketPath))
        {
            failures.Add("Launcher:SocketPath must be an absolute path");
        }
        else if (Encoding.UTF8.GetByteCount(options.SocketPath) > MaxSocketPathBytes)
        {
            failures.Add($"Launcher:SocketPath is longer than {MaxSocketPathBytes} bytes");
        }

        if (options.StateDirectory.Length > 0 && !Path.IsPathFullyQualified(options.StateDirectory))
        {
            failures.Add("Launcher:StateDirectory must be an absolute path (or empty)");
        }

        ValidateProgram(options.UepProgram, isRoot, failures);
        if (options.UepProgramArguments.Any(a => a.Contains('\0')))
        {
            failures.Add("Launcher:UepProgramArguments may not contain NUL characters");
        }

        if (options.MinUid < 1)
        {
            failures.Add("Launcher:MinUid must be at least 1: the launcher never starts anything as root");
        }

        if (options.MaxUid < options.MinUid)
        {
            failures.Add("Launcher:MaxUid must not be below Launcher:MinUid");
        }

        foreach (var user in options.AllowedUsers.Concat(options.DeniedUsers))
        {
            if (!RequestValidator.IsValidUsername(user))
            {
                failures.Add($"Launcher:AllowedUsers/DeniedUsers: {RequestValidator.Quote(user)} is not a valid username");
            }
        }

        if (options.ClientUser.Length > 0)
        {
            if (!RequestValidator.IsValidUsername(options.ClientUser))
            {
                failures.Add($"Launcher:ClientUser {RequestValidator.Quote(options.ClientUser)} is not a valid username");
            }
            else if (Native.GetUserByName(options.ClientUser) is null)
            {
                failures.Add($"Launcher:ClientUser '{options.ClientUser}' does not exist");
            }
        }

        foreach (var (variable, value) in options.Environment)
        {
            if (!VariableName().IsMatch(variable) || ReservedVariables.Contains(variable))
            {
                failures.Add($"Launcher:Environment: {RequestValidator.Quote(variable)} is not a variable name the admin may set");
            }
            else if (value.Contains('\0'))
            {
                failures.Add($"Launcher:Environment: {variable} contains a NUL character");
            }
        }

        if (options.Path.Length == 0 || options.Path.Contains('\0'))
        {
            failures.Add("Launcher:Path must be a non-empty search path");
        }

        if (ParseUmask(options.Umask) is null)
        {
            failures.Add("Launcher:Umask must be an octal mode between 000 and 777");
        }

        if (options.MaxProcesses is < 1 || options.MaxOpenFiles is < 1 || options.MaxAddressSpaceBytes is < 1)
        {
            failures.Add("Launcher:MaxProcesses, MaxOpenFiles and MaxAddressSpaceBytes must be positive when set");
        }

        Pam.PamPolicy.Validate(options.Pam, isRoot, failures);

        if (options.MaxMemoryBytes is < 1 || options.MaxPids is < 1)
        {
            failures.Add("Launcher:MaxMemoryBytes and MaxPids must be positive when set");
        }

        if (!Cgroups.CgroupOptions.IsValidParent(options.Cgroups.Parent))
        {
            failures.Add($"Launcher:Cgroups:Parent {RequestValidator.Quote(options.Cgroups.Parent)} must be a relative path of plain names (e.g. mep)");
        }

        if (options.StderrTailLines is < 0 or > 1000)
        {
            failures.Add("Launcher:StderrTailLines must be between 0 and 1000");
        }

        if (options.MaxRequestBytes < 1024)
        {
            failures.Add("Launcher:MaxRequestBytes must be at least 1024");
        }

        if (options.MaxStdinBytes < 1 || options.MaxStdinBytes >= options.MaxRequestBytes)
        {
            failures.Add("Launcher:MaxStdinBytes must be positive and below Launcher:MaxRequestBytes");
        }

        if (options.AccountCheckInterval < TimeSpan.FromSeconds(1) || options.AccountCheckInterval > TimeSpan.FromHours(1))
        {
            failures.Add("Launcher:AccountCheckInterval must be between 1 second and 1 hour");
        }

        if (options.AccountStopGracePeriod < TimeSpan.Zero || options.AccountStopGracePeriod > TimeSpan.FromHours(1))
        {
            failures.Add("Launcher:AccountStopGracePeriod must be between 0 and 1 hour");
        }

        if (options.RequestTimeout <= TimeSpan.Zero)
        {
            failures.Add("Launcher:RequestTimeout must be positive");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>The umask setting as a number, or null when it is not an octal mode.</summary>
    public static uint? ParseUmask(string value) =>
        value.Length is > 0 and <= 4 && value.All(c => c is >= '0' and <= '7') && Convert.ToUInt32(value, 8) is var mask
            && mask <= 0x1FF ? mask : null;

    private static void ValidateProgram(string program, bool isRoot, List<string> failures)
    {
        if (!Path.IsPathFullyQualified(program))
        {
            failures.Add("Launcher:UepProgram must be an absolute path");
            return;
        }

        var status = Native.Stat(program, followLinks: true);
        if (status is not { IsRegularFile: true, Executable: true })
        {
            failures.Add($"Launcher:UepProgram {program} is not an executable file");
        }
        else if (isRoot && status.Value.WritableByGroupOrOthers)
        {
            // Root would run whatever someone else wrote into it, as every user.
            failures.Add($"Launcher:UepProgram {program} is writable by group or others");
        }
    }
}
